// Command atriumd is Atrium's core server.
package main

import (
	"context"
	"fmt"
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
	log := app.NewLogger(cfg)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if cfg.DatabaseURL == "" {
		cluster, err := localpg.Start(ctx, filepath.Join(cfg.DataDir, "pg"), log)
		if err != nil {
			return err
		}
		defer func() {
			if err := cluster.Stop(context.Background()); err != nil {
				log.Error("stop private PostgreSQL cluster", "error", err)
			}
		}()
		cfg.DatabaseURL = cluster.URL()
	}

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
