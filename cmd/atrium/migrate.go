package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
)

func newMigrateCommand() *cobra.Command {
	return group("migrate", "Bring the platform schema and every tenant schema up to date",
		`Migrations are run by atriumd itself, against the database: at start for the
platform schema, at tenant creation for a new tenant, and for every existing
tenant by "atriumd migrate" (a deploy step). "atrium migrate up" runs that step.`,
		newMigrateUpCommand())
}

func newMigrateUpCommand() *cobra.Command {
	var atriumd string
	var parallelism int
	cmd := &cobra.Command{
		Use:   "up [--parallelism N] [--atriumd PATH]",
		Short: "Migrate the platform schema, then every tenant that is behind, with a progress bar",
		Long: `up runs "atriumd migrate" with this environment (DATABASE_URL and the rest of
atriumd's configuration, docs/operations.md): the platform schema first, then
every tenant schema that is behind, N at a time, with a progress bar on a
terminal and a line per tenth of the way otherwise, then a summary. A tenant
that fails does not stop the others; running it again retries only what is
still behind. It exits 1 when any tenant failed.

atriumd is looked for next to this atrium binary, then on PATH.`,
		Example: `  DATABASE_URL=postgres://atrium@db/atrium atrium migrate up
  atrium migrate up --parallelism 8 --atriumd /usr/local/bin/atriumd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bin, err := findAtriumd(atriumd)
			if err != nil {
				return err
			}
			args := []string{"migrate"}
			if parallelism > 0 {
				args = append(args, "--parallelism", strconv.Itoa(parallelism))
			}
			run := exec.CommandContext(cmd.Context(), bin, args...)
			run.Stdin, run.Stdout, run.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			return run.Run() // its exit code is ours (main)
		},
	}
	cmd.Flags().StringVar(&atriumd, "atriumd", "", "the atriumd binary (default: next to atrium, else on PATH)")
	cmd.Flags().IntVar(&parallelism, "parallelism", 0, "tenants migrated at once (atriumd's default: 4)")
	return cmd
}

func findAtriumd(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "atriumd")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("atriumd")
	if errors.Is(err, exec.ErrNotFound) {
		return "", fmt.Errorf("atriumd is neither next to atrium nor on PATH: give --atriumd")
	}
	return p, err
}
