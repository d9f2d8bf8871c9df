// Command atrium is the operator and security-team CLI: plugins (list,
// register or upgrade, remove), policies (test offline in the sandbox,
// push), audit verification and the developer commands; tenant commands
// join it.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/buildinfo"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		if errors.Is(err, errReported) {
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "atrium: "+err.Error())
		os.Exit(1)
	}
}

// errReported, wrapped, is a failure the command has already reported on
// stdout (a broken chain, failing policy tests): it only sets the exit code.
var errReported = errors.New("reported")

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "atrium",
		Short:         "Operate Atrium: plugins, policies, audit, development helpers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Run: func(cmd *cobra.Command, _ []string) {
				fmt.Fprintln(cmd.OutOrStdout(), buildinfo.Version)
			},
		},
		newDevCommand(),
		newPluginsCommand(),
		newPolicyCommand(),
		newAuditCommand(),
	)
	return root
}
