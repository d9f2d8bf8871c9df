// Command atriumd is Atrium's core server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/gcpolicy"
	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/localpg"
)

func main() {
	args := os.Args[1:]
	run := run
	if len(args) > 0 && args[0] == "migrate" {
		run = func() error { return migrate(args[1:]) }
	} else if code, ok := parseArgs(args, os.Stdout, os.Stderr); !ok {
		os.Exit(code) // help, or a mistake: nothing is started
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "atriumd: "+err.Error())
		os.Exit(1)
	}
}

// parseArgs accepts no arguments but -h/--help: a typo must not start a
// server (with a private cluster, when DATABASE_URL is unset). ok false
// means exit with code: 0 after help on stdout, 2 after a mistake and
// the usage on stderr.
func parseArgs(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	flags := flag.NewFlagSet("atriumd", flag.ContinueOnError)
	flags.SetOutput(io.Discard) // the usage below says it all
	err := flags.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(stdout)
		return 0, false
	case err != nil:
		fmt.Fprintln(stderr, "atriumd: "+err.Error())
	case flags.NArg() > 0:
		fmt.Fprintf(stderr, "atriumd: unknown command %q\n", flags.Arg(0))
	default:
		return 0, true
	}
	usage(stderr)
	return 2, false
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  atriumd                              serve Atrium's core (HTTP API, plugins)
  atriumd migrate [--parallelism N]    migrate the platform and every tenant schema, then exit
  atriumd -h | --help                  print this help

Configuration comes from the environment (default in brackets); with no
DATABASE_URL a private PostgreSQL cluster is started under ATRIUM_DATA_DIR/pg.

`)
	for _, v := range config.Variables() {
		if v.Default != "" {
			fmt.Fprintf(w, "  %-36s [%s]\n", v.Name, v.Default)
		} else {
			fmt.Fprintf(w, "  %s\n", v.Name)
		}
	}
	fmt.Fprint(w, `  ATRIUM_PG_BIN                        the private cluster's PostgreSQL binaries
  OTEL_*                               tracing (none unless OTEL_TRACES_EXPORTER is set)
  GOGC, GOMEMLIMIT                     the collector's pace [200; 90% of the container's memory limit]

Documentation: README.md (configuration) and docs/operations.md.
`)
}

func run() error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg, os.Stdout)
	gc, err := gcpolicy.Apply()
	if err != nil {
		log.Warn("the container's memory limit could not be read; GOMEMLIMIT is not set", "error", err)
	}
	log.Info("garbage collector", "gogc", gc.GOGC, "gogc_from", gc.GOGCFrom,
		"memory_limit_bytes", gc.MemoryLimit, "memory_limit_from", gc.MemoryLimitFrom)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	stopDB, err := ensureDatabase(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer stopDB()

	a := app.New(cfg, log)
	if err := a.Err(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := a.Start(startCtx); err != nil {
		if ctx.Err() != nil { // a signal during start: fx has undone what started
			log.Info("start interrupted by signal")
			return nil
		}
		return err
	}
	log.Info("atriumd ready")
	if cfg.FirstOperatorFile != "" {
		signIn(os.Stderr, cfg)
	}
	<-ctx.Done()
	stop() // a second signal now kills the process the default way
	log.Info("shutting down", "readiness_delay", cfg.ReadinessDelay.String(), "deadline", cfg.ShutdownTimeout.String())

	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ReadinessDelay+cfg.ShutdownTimeout)
	defer cancel()
	return a.Stop(stopCtx)
}

// ensureDatabase starts the private cluster under DataDir when no
// DATABASE_URL is set and points cfg at it; stop stops what it started.
func ensureDatabase(ctx context.Context, cfg *config.Config, log *slog.Logger) (stop func(), err error) {
	if cfg.DatabaseURL != "" {
		return func() {}, nil
	}
	cluster, err := localpg.Start(ctx, filepath.Join(cfg.DataDir, "pg"), log)
	if err != nil {
		return nil, err
	}
	cfg.DatabaseURL = cluster.URL()
	cfg.FirstOperatorFile = filepath.Join(cfg.DataDir, "operator-password")
	return func() {
		if err := cluster.Stop(context.Background()); err != nil {
			log.Error("stop private PostgreSQL cluster", "error", err)
		}
	}, nil
}

// signIn tells a developer on their own machine (a private cluster) how to
// sign in, on stderr, beside the JSON log: as the first operator, whose
// generated password is in its file, when that operator was created here.
func signIn(w io.Writer, cfg config.Config) {
	if _, err := os.Stat(cfg.FirstOperatorFile); err != nil || strings.HasSuffix(cfg.HTTPAddr, ":0") {
		return
	}
	fmt.Fprintf(w, "\nAtrium is ready at http://%s\n", cfg.HTTPAddr)
	fmt.Fprintf(w, "Sign in as operator %s with the password in %s:\n", identity.FirstOperatorEmail, cfg.FirstOperatorFile)
	fmt.Fprintf(w, "  curl -s http://%s/api/v1/operator/login -H 'Content-Type: application/json' \\\n", cfg.HTTPAddr)
	fmt.Fprintf(w, "    -d \"{\\\"email\\\":\\\"%s\\\",\\\"password\\\":\\\"$(cat %s)\\\"}\"\n\n", identity.FirstOperatorEmail, cfg.FirstOperatorFile)
}
