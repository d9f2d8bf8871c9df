package main

import (
	"os"
	"testing"
)

// TestMain keeps the tests away from the user's own sign-ins: the config
// directory (os.UserConfigDir, XDG_CONFIG_HOME on Linux) is a fresh one, and
// ATRIUM_* are unset. HOME stays: the Go caches under it serve the scaffold test.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "atrium-cli-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	for _, k := range []string{"ATRIUM_TOKEN", "ATRIUM_SERVER", "ATRIUM_EMAIL", "ATRIUM_PASSWORD"} {
		os.Unsetenv(k)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
