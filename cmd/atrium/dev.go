package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/localpg"
)

// defaultTestServer is the local server tests use when nothing is configured.
const defaultTestServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func newDevCommand() *cobra.Command {
	dev := &cobra.Command{Use: "dev", Short: "Development helpers",
		Long: `Helpers for working on Atrium itself: a PostgreSQL server for the tests, and the
load benchmark against the real binaries (docs/development.md).`}
	var dir string
	with := &cobra.Command{
		Use:   "with-postgres -- COMMAND [ARGS...]",
		Short: "Run COMMAND with ATRIUM_TEST_DATABASE_URL pointing at a PostgreSQL server",
		Long: `Runs COMMAND with ATRIUM_TEST_DATABASE_URL set: to its current value if set,
else to the local server on 127.0.0.1:5432 if it answers, else to a private
cluster started under --dir for the run and stopped after it.`,
		Example: `  atrium dev with-postgres -- go test ./core/...`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withPostgres(cmd.Context(), dir, args, cmd.ErrOrStderr())
		},
	}
	with.Flags().StringVar(&dir, "dir", ".atrium/test-pg", "where the private cluster lives")
	dev.AddCommand(with, newBenchLoadCommand())
	return dev
}

func withPostgres(ctx context.Context, dir string, args []string, stderr io.Writer) error {
	url := os.Getenv("ATRIUM_TEST_DATABASE_URL")
	if url == "" {
		if err := localpg.Reachable(ctx, defaultTestServer); err == nil {
			url = defaultTestServer
		} else {
			log := slog.New(slog.NewTextHandler(stderr, nil))
			cluster, err := localpg.Start(ctx, dir, log)
			if err != nil {
				return fmt.Errorf("no PostgreSQL at 127.0.0.1:5432 and no private cluster: %w", err)
			}
			defer func() {
				if err := cluster.Stop(context.Background()); err != nil {
					log.Error("stop private cluster", "error", err)
				}
			}()
			url = cluster.AdminURL()
		}
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "ATRIUM_TEST_DATABASE_URL="+url)
	// The child shares our terminal and gets Ctrl-C itself; we only wait for
	// it so the cluster is stopped after it.
	signal.Ignore(syscall.SIGINT)
	return cmd.Run()
}
