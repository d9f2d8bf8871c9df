// Command atriumd is Atrium's core server.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/localpg"
)

func main() {
	run := run
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		run = func() error { return migrate(os.Args[2:]) }
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "atriumd: "+err.Error())
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg, os.Stdout)

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
	<-ctx.Done()
	stop() // a second signal now kills the process the default way
	log.Info("shutting down", "deadline", cfg.ShutdownTimeout.String())

	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
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
	return func() {
		if err := cluster.Stop(context.Background()); err != nil {
			log.Error("stop private PostgreSQL cluster", "error", err)
		}
	}, nil
}
