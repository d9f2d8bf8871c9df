// Package buildinfo holds what the build stamps into the binaries, apart from
// everything else so small tools can report it without linking the server.
package buildinfo

// Version is the build's version, set by the linker (-X) in release builds.
var Version = "dev"
