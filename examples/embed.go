// Package examples holds the example plugin and deployment files; it embeds
// the plugin template so that `atrium plugin new` scaffolds from the very
// files that are built and tested here.
package examples

import "embed"

// PluginTemplate is examples/plugin-template: a plugin named "notes".
//
//go:embed plugin-template/main.go plugin-template/main_test.go plugin-template/README.md plugin-template/migrations/*.sql
var PluginTemplate embed.FS
