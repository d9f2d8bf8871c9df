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
