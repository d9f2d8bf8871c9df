// Package policies ships Atrium's Rego: the base policy every decision runs
// (base/, with its tests) and sample tenant policies (examples/, with
// theirs). core/opa compiles them from these embedded copies, so the binary
// needs no files at run time.
package policies

import "embed"

// Base holds base/*.rego: the base policy modules and their *_test.rego.
//
//go:embed base/*.rego
var Base embed.FS

// Examples holds examples/*.rego: sample tenant modules and their tests.
//
//go:embed examples/*.rego
var Examples embed.FS
