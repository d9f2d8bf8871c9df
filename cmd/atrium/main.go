// Command atrium is the operator and security-team CLI: audit verification
// and the developer commands so far; tenant and policy commands join it.
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
		if errors.Is(err, errBroken) { // already reported on stdout
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "atrium: "+err.Error())
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "atrium",
		Short:         "Operate Atrium: tenants, policies, audit, development helpers",
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
		newAuditCommand(),
	)
	return root
}
