package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// coreComponent is the component every tenant has; any other component is a
// plugin's and is migrated only in tenants that enabled the plugin.
const coreComponent = "core"

// RolloutOptions tune a Rollout. The zero value is a sound default.
type RolloutOptions struct {
	// Parallelism is how many tenants migrate at once: 4 by default, and never
	// more than half the pool, so a rollout beside live traffic leaves the
	// other half to requests.
	Parallelism int
	// LockTimeout bounds how long a migration waits for a lock held by live
	// traffic (5s by default). A DDL statement queued behind a long
	// transaction would otherwise block every later query on that table;
	// the tenant fails instead and the next run retries it.
	LockTimeout time.Duration
	// Registerer, when set, receives the atrium_tenant_migrations_* metrics.
	Registerer prometheus.Registerer
	// Keys derive the tenants' audit keys and the plugin roles' passwords;
	// by default they are read from the pool's database.
	Keys *Keys
	// PluginStatementTimeout bounds each statement of a plugin's
	// migrations, and each pause between them (a minute by default): a
	// migration that runs on fails in that tenant instead of holding the
	// rollout, and the core's start, forever.
	PluginStatementTimeout time.Duration
}

// RolloutOutcome is what became of one tenant.
type RolloutOutcome string

// Rollout outcomes. RolloutStarted is the first event of a run, before any
// tenant: it carries the number of tenants behind.
const (
	RolloutStarted  RolloutOutcome = "started"
	RolloutMigrated RolloutOutcome = "migrated"
	RolloutUpToDate RolloutOutcome = "up to date" // another process got there first
	RolloutFailed   RolloutOutcome = "failed"
	RolloutSkipped  RolloutOutcome = "skipped (busy)" // another process is migrating it
)

// RolloutEvent reports one tenant done, with the run's counts so far.
type RolloutEvent struct {
	Outcome  RolloutOutcome
	Tenant   string // slug; empty in the RolloutStarted event
	Err      error  // why the tenant failed
	Duration time.Duration
	Total    int // tenants behind when the run started
	Done     int // of Total, whatever their outcome
	Failed   int
	Skipped  int
}

// RolloutFailure is a tenant left behind by a failed migration.
type RolloutFailure struct {
	Tenant    string
	Component string
	Err       error
}

// RolloutSummary is the result of a run.
type RolloutSummary struct {
	Tenants  int // in the registry
	Migrated int
	UpToDate int // before the run, or made so meanwhile by another process
	Failed   []RolloutFailure
	Skipped  []string // busy in another process; the next run retries them
	Duration time.Duration
}

// Rollout brings every tenant schema up to the latest version of each
// migration set. It is safe to run from several processes at once: each
// tenant and component is migrated under a transaction-scoped advisory lock,
// and a process that finds it taken moves on.
type Rollout struct {
	pool        *pgxpool.Pool
	sets        []*MigrationSet
	parallelism int
	lockTimeout time.Duration
	metrics     *rolloutMetrics
	keys        *Keys
	pluginLimit time.Duration

	instOnce sync.Once
	inst     string
	instErr  error
}

// NewRollout returns a rollout of sets, applied in that order (core first).
func NewRollout(pool *pgxpool.Pool, sets []*MigrationSet, opts RolloutOptions) *Rollout {
	p := cmp.Or(opts.Parallelism, 4)
	p = max(min(p, int(pool.Config().MaxConns/2)), 1)
	keys := opts.Keys
	if keys == nil {
		keys = NewKeys(pool)
	}
	return &Rollout{
		pool: pool, sets: sets, parallelism: p,
		lockTimeout: cmp.Or(opts.LockTimeout, 5*time.Second),
		metrics:     newRolloutMetrics(opts.Registerer),
		keys:        keys,
		pluginLimit: cmp.Or(opts.PluginStatementTimeout, time.Minute),
	}
}

// installation is this installation's ID, which plugin role names carry.
func (r *Rollout) installation(ctx context.Context) (string, error) {
	r.instOnce.Do(func() {
		r.instErr = r.pool.QueryRow(ctx, "SELECT id FROM atrium.installation").Scan(&r.inst)
	})
	return r.inst, r.instErr
}

// Parallelism is the number of tenants migrated at once.
func (r *Rollout) Parallelism() int { return r.parallelism }

type tenantWork struct {
	id                 uuid.UUID
	slug, schema, role string
	behind             []*MigrationSet
}

// planSQL lists every tenant with the components it is behind on, in one
// query, so a pass with nothing to do costs one round trip. A plugin whose
// roles in the tenant do not exist yet is behind too. $1 and $2 are
// the components and their latest versions, $3 the core component; a missing
// status row is version 0.
const planSQL = `SELECT t.id, t.slug, t.schema_name, t.role_name,
	coalesce(array_agg(c.component ORDER BY c.ord) FILTER (
		WHERE (c.component = $3 AND coalesce(m.version, 0) < c.latest)
			OR (c.component = ANY (t.plugins) AND (coalesce(m.version, 0) < c.latest OR r.tenant_id IS NULL))), '{}')
FROM atrium.tenants t
LEFT JOIN unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS c (component, latest, ord) ON true
LEFT JOIN atrium.tenant_migrations m ON m.tenant_id = t.id AND m.component = c.component
LEFT JOIN atrium.tenant_plugin_roles r ON r.tenant_id = t.id AND r.plugin = c.component
GROUP BY t.id
ORDER BY t.slug`

func (r *Rollout) plan(ctx context.Context) (int, []tenantWork, error) {
	names, latest := make([]string, len(r.sets)), make([]int64, len(r.sets))
	byName := map[string]*MigrationSet{}
	for i, s := range r.sets {
		names[i], latest[i], byName[s.Component] = s.Component, int64(s.Latest()), s //nolint:gosec // versions are small
	}
	rows, err := r.pool.Query(ctx, planSQL, names, latest, coreComponent)
	if err != nil {
		return 0, nil, fmt.Errorf("read tenant migration status: %w", err)
	}
	tenants := 0
	var work []tenantWork
	var behind []string
	var w tenantWork
	_, err = pgx.ForEachRow(rows, []any{&w.id, &w.slug, &w.schema, &w.role, &behind}, func() error {
		tenants++
		if len(behind) > 0 {
			w.behind = make([]*MigrationSet, len(behind))
			for i, name := range behind {
				w.behind[i] = byName[name]
			}
			work = append(work, w)
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("read tenant migration status: %w", err)
	}
	return tenants, work, nil
}

// Run migrates every tenant that is behind with bounded parallelism. A
// tenant's failure is recorded in its status row and in the summary, and the
// others carry on; the error is for what stops the whole run: the registry
// cannot be read, or ctx ends. progress, when set, is called from one
// goroutine at a time.
func (r *Rollout) Run(ctx context.Context, progress func(RolloutEvent)) (RolloutSummary, error) {
	start := time.Now()
	tenants, work, err := r.plan(ctx)
	if err != nil {
		return RolloutSummary{}, err
	}
	r.metrics.behind.Set(float64(len(work)))
	t := &tally{
		sum:      RolloutSummary{Tenants: tenants, UpToDate: tenants - len(work)},
		ev:       RolloutEvent{Outcome: RolloutStarted, Total: len(work)},
		progress: progress,
		metrics:  r.metrics,
	}
	t.report()

	jobs := make(chan tenantWork)
	var wg sync.WaitGroup
	for range min(r.parallelism, len(work)) {
		wg.Go(func() {
			for w := range jobs {
				t.add(w.slug, r.migrateTenant(ctx, w))
			}
		})
	}
feed:
	for _, w := range work {
		select {
		case jobs <- w:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()

	slices.SortFunc(t.sum.Failed, func(a, b RolloutFailure) int { return cmp.Compare(a.Tenant, b.Tenant) })
	slices.Sort(t.sum.Skipped)
	t.sum.Duration = time.Since(start)
	return t.sum, ctx.Err()
}

// tally keeps a run's counts and serialises progress callbacks.
type tally struct {
	mu       sync.Mutex
	sum      RolloutSummary
	ev       RolloutEvent
	progress func(RolloutEvent)
	metrics  *rolloutMetrics
}

func (t *tally) add(slug string, res tenantResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.metrics.observe(res)
	t.ev.Outcome, t.ev.Tenant, t.ev.Err, t.ev.Duration = res.outcome, slug, res.err, res.duration
	t.ev.Done++
	switch res.outcome {
	case RolloutMigrated:
		t.sum.Migrated++
	case RolloutUpToDate:
		t.sum.UpToDate++
	case RolloutSkipped:
		t.ev.Skipped++
		t.sum.Skipped = append(t.sum.Skipped, slug)
	case RolloutFailed:
		t.ev.Failed++
		t.sum.Failed = append(t.sum.Failed, RolloutFailure{Tenant: slug, Component: res.component, Err: res.err})
	}
	t.report()
}

func (t *tally) report() {
	if t.progress != nil {
		t.progress(t.ev)
	}
}
