package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/internal/loadgen"
	"github.com/atriumhq/atrium/internal/loadtarget"
	"github.com/atriumhq/atrium/internal/procmem"
)

// benchRun is what a bench-load run drives.
type benchRun struct {
	benchSettings
	atriumURL string // empty: start bin/atriumd
	bin       string // where bin/atriumd is
	pbURL     string // empty: Atrium alone
}

func newBenchLoadCommand() *cobra.Command {
	var run benchRun
	s := &run.benchSettings
	rounds, roundsErr := strconv.Atoi(envOr("ATRIUM_BENCH_ROUNDS", "3"))
	cmd := &cobra.Command{
		Use:   "bench-load",
		Short: "Drive Atrium (and PocketBase, if given) with the same load, in turns, and print the medians",
		Long: `Sets Atrium up through its API (4 tenants with the projects plugin, a user in
each owning 20 projects) and, when --pocketbase names one, a PocketBase the
same way (4 users x 20 projects with the view rule owner = @request.auth.id,
tasks only the project's owner may create). Then, for each round, each server
in turn (the order alternating): authorised reads of one record by --clients
closed-loop clients, the same reads at --rate requests/s open loop (latency
from each request's scheduled time), creates of a child record by --clients
clients, and the server's memory (RSS from /proc: atriumd with its plugins,
PocketBase's process). Atrium's core read GET /api/v1/users/{id} is measured
beside its plugin read. Prints markdown tables of the medians and ratios.

Without --atrium it starts bin/atriumd (beside this binary, plugins in
bin/plugins) on a scratch database on the PostgreSQL server of
ATRIUM_TEST_DATABASE_URL (else 127.0.0.1:5432), and drops it after. With
--atrium it uses that server, signing in as ATRIUM_OPERATOR_EMAIL /
ATRIUM_OPERATOR_PASSWORD, and removes the tenants it made. PocketBase's
superuser is POCKETBASE_EMAIL / POCKETBASE_PASSWORD.

The load generator shares the machine with the servers: measure on a quiet one.`,
		Example: `  make build && bin/atrium dev bench-load
  POCKETBASE_URL=http://127.0.0.1:8090 bin/atrium dev bench-load --rounds 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if roundsErr != nil && !cmd.Flags().Changed("rounds") {
				return fmt.Errorf("ATRIUM_BENCH_ROUNDS: %w", roundsErr)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			self, err := os.Executable()
			if err != nil {
				return err
			}
			run.bin = filepath.Dir(self)
			return benchLoad(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), run)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&s.duration, "duration", 10*time.Second, "length of each phase")
	f.IntVar(&s.rate, "rate", 1000, "requests per second of the open loop")
	f.IntVar(&s.clients, "clients", 32, "clients of the closed loops")
	f.IntVar(&s.rounds, "rounds", rounds, "rounds, each server once a round (ATRIUM_BENCH_ROUNDS)")
	f.StringVar(&run.atriumURL, "atrium", "", "a running Atrium's base URL (default: start bin/atriumd)")
	f.StringVar(&run.pbURL, "pocketbase", os.Getenv("POCKETBASE_URL"), "a running PocketBase's base URL (POCKETBASE_URL)")
	return cmd
}

// benchTarget is a target set up for the rounds and what measures it.
type benchTarget struct {
	loadtarget.Target
	pid    int       // the server's process, 0 when unknown
	rounds []figures // one per round
}

func benchLoad(ctx context.Context, stdout, progress io.Writer, run benchRun) (err error) {
	s, atriumURL := run.benchSettings, run.atriumURL
	if s.duration <= 0 || s.rate <= 0 || s.clients <= 0 || s.rounds <= 0 {
		return errors.New("--duration, --rate, --clients and --rounds must be positive")
	}
	client := loadgen.NewClient(max(s.clients, 256))
	shape := loadtarget.DefaultShape
	email, password := os.Getenv("ATRIUM_OPERATOR_EMAIL"), os.Getenv("ATRIUM_OPERATOR_PASSWORD")
	atriumPID := 0
	if atriumURL == "" {
		d, err := startAtriumd(ctx, run.bin, envOr("ATRIUM_TEST_DATABASE_URL", defaultTestServer))
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, d.stop()) }()
		atriumURL, email, password, atriumPID = d.url, benchOperator, d.password, d.cmd.Process.Pid
		fmt.Fprintf(progress, "started atriumd at %s (pid %d)\n", d.url, atriumPID)
	}
	a, err := loadtarget.SetUpAtrium(ctx, client, atriumURL, email, password, shape)
	if a != nil {
		defer func() { err = errors.Join(err, a.Close(context.Background())) }()
	}
	if err != nil {
		return err
	}
	targets := []*benchTarget{{Target: a, pid: serverPID(atriumPID, atriumURL)}}
	if run.pbURL != "" {
		pb, err := loadtarget.SetUpPocketBase(ctx, client, run.pbURL, os.Getenv("POCKETBASE_EMAIL"), os.Getenv("POCKETBASE_PASSWORD"), shape)
		if err != nil {
			return err
		}
		targets = append(targets, &benchTarget{Target: pb, pid: serverPID(0, run.pbURL)})
	}
	for r := range s.rounds {
		for i := range targets {
			t := targets[(i+r)%len(targets)] // alternate who goes first
			f := measure(ctx, progress, s, t)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.rounds = append(t.rounds, f)
			fmt.Fprintf(progress, "round %d/%d %s: reads %.0f/s, at %d/s p50 %.2f ms p99 %.2f ms, creates %.0f/s, %.0f MB, %d failed\n",
				r+1, s.rounds, t.Name(), f.reads, s.rate, f.readP50, f.readP99, f.creates, f.rssMB, f.failed)
		}
	}
	var pb []figures
	if len(targets) > 1 {
		pb = targets[1].rounds
	}
	report(stdout, s, targets[0].rounds, pb)
	return nil
}

// measure runs one round's phases on t: a warm-up (connections, caches,
// pools grow only under load), reads closed loop, reads open loop, for
// Atrium its core read both ways, creates, then the server's memory.
func measure(ctx context.Context, progress io.Writer, s benchSettings, t *benchTarget) figures {
	f := unmeasured()
	warm := min(s.duration/5, 2*time.Second)
	count := func(what string, r loadgen.Result) loadgen.Result {
		f.failed += r.Errors
		if r.Errors > 0 && ctx.Err() == nil { // not the requests an interrupt cut short
			fmt.Fprintf(progress, "%s %s: %d of %d failed, the first: %v\n", t.Name(), what, r.Errors, r.Requests, r.FirstError)
		}
		return r
	}
	reads := func(what string, op loadgen.Op) (rps, p50, p99 float64) {
		loadgen.ClosedLoop(ctx, s.clients, warm, op)
		rps = count(what+", closed loop", loadgen.ClosedLoop(ctx, s.clients, s.duration, op)).Throughput()
		p50, p99 = openFigures(count(what+", open loop", loadgen.OpenLoop(ctx, s.rate, s.duration, op)))
		return rps, p50, p99
	}
	f.reads, f.readP50, f.readP99 = reads("reads", t.Read)
	if a, ok := t.Target.(*loadtarget.Atrium); ok {
		f.coreReads, f.coreP50, f.coreP99 = reads("core reads", a.CoreRead)
	}
	f.creates = count("creates", loadgen.ClosedLoop(ctx, s.clients, s.duration, t.Create)).Throughput()
	if t.pid != 0 {
		if rss, _, err := procmem.TreeRSS(t.pid); err == nil {
			f.rssMB = float64(rss) / (1 << 20)
		}
	}
	return f
}

// serverPID is pid if known, else the process listening on rawURL's port
// when its host is this machine's loopback; 0 when not found (its memory
// is then not reported).
func serverPID(pid int, rawURL string) int {
	if pid != 0 {
		return pid
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return 0
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return 0
	}
	pid, err = procmem.ListenerPID(n)
	if err != nil {
		return 0
	}
	return pid
}
