// Command atrium is the CLI of Atrium for operators, tenant admins, security
// teams and plugin authors: sign-in, tenants, users, roles, service
// accounts and keys, policies (offline tests, push, evaluate, versions),
// audit, plugins (and a plugin scaffold), migrations and the developer
// commands. docs/cli.md describes every command.
//
// It speaks the HTTP API through the request and response bodies of
// core/api/model and imports nothing of the server's HTTP stack.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/buildinfo"
)

func main() {
	err := newRoot().Execute()
	if err != nil && !errors.Is(err, errReported) {
		var exit interface{ ExitCode() int }
		if !errors.As(err, &exit) { // a command run for us has said why
			fmt.Fprintln(os.Stderr, "atrium: "+err.Error())
		}
	}
	os.Exit(exitCode(err))
}

// errReported, wrapped, is a failure the command has already reported on
// stdout (a broken chain, failing policy tests, a denial): it only sets the
// exit code.
var errReported = errors.New("reported")

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "atrium",
		Short: "Operate Atrium: sign-in, tenants, users, policies, audit, plugins",
		Long: `atrium is the command line of Atrium. Sign in first (atrium login --operator,
or atrium login --tenant SLUG); every command then uses the stored token, or
--token / ATRIUM_TOKEN. --server or ATRIUM_SERVER names the server (default
http://127.0.0.1:8080).

Commands that print data take -o table|json|yaml. Exit codes: 0 success,
1 the server refused or failed (or the work failed: failing policy tests, a
broken audit chain, a denied eval), 2 a wrong command line (nothing was sent).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if f := cmd.Flags().Lookup("output"); f != nil {
				return (&output{format: f.Value.String()}).check()
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		&cobra.Command{
			Use:     "version",
			Short:   "Print the version",
			Example: "  atrium version",
			Args:    cobra.NoArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				fmt.Fprintln(cmd.OutOrStdout(), buildinfo.Version)
			},
		},
		newLoginCommand(),
		newLogoutCommand(),
		newTenantsCommand(),
		newUsersCommand(),
		newRolesCommand(),
		newServiceAccountsCommand(),
		newKeysCommand(),
		newPolicyCommand(),
		newAuditCommand(),
		newPluginsCommand(),
		newPluginCommand(),
		newMigrateCommand(),
		newDevCommand(),
	)
	markUsage(root)
	return root
}
