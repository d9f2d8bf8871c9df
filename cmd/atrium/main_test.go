package main

import (
	"os"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// Every command says what it does and shows how it is used.
func TestEveryCommandHasHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" || c.HasParent() && c.Parent().Name() == "completion" {
			return
		}
		assert.NotEmpty(t, c.Short, c.CommandPath())
		if c.HasSubCommands() {
			assert.NotEmpty(t, c.Long, "%s: a group says what it groups", c.CommandPath())
		} else {
			assert.NotEmpty(t, c.Example, "%s: an example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRoot()
	root.InitDefaultCompletionCmd()
	walk(root)
	// completion is offered
	out, _, err := runCLI("completion", "bash")
	require.NoError(t, err)
	assert.Contains(t, out, "bash completion")
}
