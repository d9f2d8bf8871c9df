package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/migrations"
)

// migrate is `atriumd migrate`: the platform schema, then every tenant schema
// that is behind, as a deploy step run before (or beside) the servers. A
// tenant that fails does not stop the others; the exit code says whether any
// failed, and running it again retries only what is still behind.
func migrate(args []string) error {
	flags := flag.NewFlagSet("atriumd migrate", flag.ContinueOnError)
	parallelism := flags.Int("parallelism", 0, "tenants migrated at once (default 4; at most half of ATRIUM_DB_MAX_CONNS)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if flags.NArg() > 0 || *parallelism < 0 {
		return errors.New("usage: atriumd migrate [--parallelism N]")
	}

	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg, os.Stderr) // stdout carries the summary
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	stopDB, err := ensureDatabase(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer stopDB()

	pool, direct, err := postgres.NewPools(cfg, 0, nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	defer direct.Close() // a second Close of one pool does nothing
	if err := postgres.Ping(ctx, pool); err != nil {
		return err
	}
	if err := postgres.MigrateSchema(ctx, direct.Pool, migrations.Core, "core", postgres.PlatformSchema, log); err != nil {
		return err
	}
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	if err != nil {
		return err
	}
	rollout := postgres.NewRollout(pool, []*postgres.MigrationSet{core}, postgres.RolloutOptions{Parallelism: *parallelism})
	bar := newProgress(os.Stderr, rollout.Parallelism())
	sum, err := rollout.Run(ctx, bar.update)
	bar.finish()
	if err != nil {
		return err
	}
	printSummary(os.Stdout, sum)
	if n := len(sum.Failed); n > 0 {
		return fmt.Errorf("%d of %d tenants failed to migrate", n, sum.Tenants)
	}
	return nil
}

// progress shows a rollout on stderr: a bar on a terminal, and plain lines
// otherwise (CI logs, pipes), where a redrawn bar would be noise.
type progress struct {
	w           io.Writer
	tty         bool
	parallelism int
	bar         *progressbar.ProgressBar
	nextTenth   int // plain lines: report at every tenth of the way
}

func newProgress(f *os.File, parallelism int) *progress {
	return &progress{w: f, tty: term.IsTerminal(int(f.Fd())), parallelism: parallelism}
}

func (p *progress) update(ev postgres.RolloutEvent) {
	switch {
	case ev.Outcome == postgres.RolloutStarted:
		fmt.Fprintf(p.w, "%d tenants to migrate, %d at a time\n", ev.Total, p.parallelism)
		if p.tty && ev.Total > 0 {
			p.bar = progressbar.NewOptions(ev.Total, progressbar.OptionSetWriter(p.w),
				progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
				progressbar.OptionShowDescriptionAtLineEnd(), progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(100*time.Millisecond))
		}
	case p.bar != nil:
		p.bar.Describe(fmt.Sprintf("%s (%d failed, %d skipped)", ev.Tenant, ev.Failed, ev.Skipped))
		_ = p.bar.Set(ev.Done)
	default:
		if ev.Outcome == postgres.RolloutFailed || ev.Outcome == postgres.RolloutSkipped {
			fmt.Fprintf(p.w, "tenant %s %s after %s\n", ev.Tenant, ev.Outcome, ev.Duration.Round(time.Millisecond))
		}
		if ev.Done*10 >= p.nextTenth*ev.Total {
			fmt.Fprintf(p.w, "%d/%d tenants done (%d failed, %d skipped)\n", ev.Done, ev.Total, ev.Failed, ev.Skipped)
			p.nextTenth = ev.Done*10/ev.Total + 1
		}
	}
}

func (p *progress) finish() {
	if p.bar != nil && !p.bar.IsFinished() {
		_ = p.bar.Exit() // interrupted: keep the bar where it stopped
		fmt.Fprintln(p.w)
	}
}

func printSummary(w io.Writer, s postgres.RolloutSummary) {
	fmt.Fprintf(w, "tenants:     %d\n", s.Tenants)
	fmt.Fprintf(w, "migrated:    %d\n", s.Migrated)
	fmt.Fprintf(w, "up to date:  %d\n", s.UpToDate)
	fmt.Fprintf(w, "failed:      %d\n", len(s.Failed))
	for _, f := range s.Failed {
		fmt.Fprintf(w, "  %s (%s): %v\n", f.Tenant, f.Component, f.Err)
	}
	fmt.Fprintf(w, "skipped:     %d\n", len(s.Skipped))
	for _, slug := range s.Skipped {
		fmt.Fprintf(w, "  %s (another process is migrating it; run again to check)\n", slug)
	}
	fmt.Fprintf(w, "total time:  %s\n", s.Duration.Round(time.Millisecond))
}
