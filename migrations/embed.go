// Package migrations embeds Atrium's SQL migrations into the binaries:
// core/ for the platform schema, tenant/ for every tenant schema. Files are
// golang-migrate pairs (NNNNNN_name.up.sql / .down.sql), never edited once
// released: a change is a new migration.
package migrations

import "embed"

// Core holds the platform schema's migrations, under the directory "core".
//
//go:embed core/*.sql
var Core embed.FS

// Tenant holds every tenant schema's migrations, under the directory "tenant".
// They run with search_path set to the tenant schema, as the platform role
// (the core's own database user), which owns what they create; they name no
// schema. (Before 000006 they ran as the tenant role.)
//
//go:embed tenant/*.sql
var Tenant embed.FS
