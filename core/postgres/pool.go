// Package postgres is Atrium's PostgreSQL infrastructure: the shared pgx
// pool, its metrics, and the platform schema's migrations.
package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PlatformSchema holds what is global: tenants, plugin catalog, operators,
// core migration state.
const PlatformSchema = "atrium"

// BaselineSchema is the empty schema every connection points at outside a
// tenant scope.
const BaselineSchema = "atrium_baseline"

// PoolOptions bound the shared pool.
type PoolOptions struct {
	MaxConns int32
	// AcquireTimeout bounds every wait for a connection (acquireBound),
	// the plugins' pools' too (they copy this pool's settings); 0 waits
	// as long as the caller's context allows.
	AcquireTimeout time.Duration
	// TransactionPooler: url reaches PostgreSQL through a pooler in
	// transaction mode (PgBouncer, pool_mode=transaction), which hands a
	// client a server connection for one transaction at a time. Then no
	// statement is prepared under a name (the next transaction may run on
	// another server connection), and no setting is sent at connection
	// start but the few a pooler keeps per client (behindPooler).
	TransactionPooler bool
	// Queries, when set, observes every statement's duration (plugins'
	// pools, which copy this pool's settings, included).
	Queries prometheus.Observer
}

// NewPool parses url and returns a pool that has not dialled yet; Ping
// proves the database reachable.
func NewPool(url string, o PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors can quote the URL, password included.
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL")
	}
	cfg.MaxConns = o.MaxConns
	cfg.MinConns = min(2, o.MaxConns)
	cfg.MaxConnLifetime = time.Hour
	cfg.MaxConnLifetimeJitter = 5 * time.Minute
	cfg.MaxConnIdleTime = 15 * time.Minute
	cfg.HealthCheckPeriod = 30 * time.Second
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	// Statements run in pgx's default mode, prepared and cached per
	// connection; the cache of descriptions only (another 512-entry map on
	// every connection, plugins' included) serves a mode Atrium never uses.
	cfg.ConnConfig.DescriptionCacheCapacity = 0
	cfg.ConnConfig.RuntimeParams["search_path"] = BaselineSchema
	cfg.ConnConfig.RuntimeParams["application_name"] = "atriumd"
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if o.TransactionPooler {
		// Each statement is parsed unnamed, and bound and run in the same
		// round trip; only its description (parameter and result types) is
		// cached per connection, which no server connection's state
		// affects. Tenant statements keep their per-schema keys (Tx.key),
		// so a description is never another tenant's shape.
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
		cfg.ConnConfig.DescriptionCacheCapacity = 512
		cfg.ConnConfig.StatementCacheCapacity = 0
		// A pooler refuses search_path at start (PgBouncer before 1.20
		// knows no track_extra_parameters) and would not keep it per
		// client: every unit of work sets its own with SET LOCAL, and the
		// platform's statements name their schema.
		delete(cfg.ConnConfig.RuntimeParams, "search_path")
	}
	if o.AcquireTimeout > 0 || o.Queries != nil {
		cfg.ConnConfig.Tracer = poolTracer{acquire: acquireBound(o.AcquireTimeout), queries: o.Queries}
	}
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// Ping checks that the database answers, naming where it looked on failure
// (host, port and database; never the password).
func Ping(ctx context.Context, pool *pgxpool.Pool) error {
	if err := pool.Ping(ctx); err != nil {
		c := pool.Config().ConnConfig
		return fmt.Errorf("cannot reach PostgreSQL at %s:%d/%s: %w", c.Host, c.Port, c.Database, rootCause{err})
	}
	return nil
}

// rootCause shows only the innermost error (pgx lists every address it tried
// over several lines) while errors.Is/As still see the whole chain.
type rootCause struct{ err error }

func (r rootCause) Error() string {
	e := r.err
	for {
		switch u := e.(type) { //nolint:errorlint // walking the chain by hand
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				e = next
				continue
			}
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				e = errs[0]
				continue
			}
		}
		return strings.ReplaceAll(e.Error(), "\n", " ")
	}
}

func (r rootCause) Unwrap() error { return r.err }

// behindPooler says whether cc, a copy of a pool's settings, reaches
// PostgreSQL through a transaction pooler: NewPool gives only those
// connections the CacheDescribe mode.
func behindPooler(cc *pgx.ConnConfig) bool {
	return cc.DefaultQueryExecMode == pgx.QueryExecModeCacheDescribe
}

// pooledParams are the startup parameters a transaction pooler accepts and
// keeps per client (PgBouncer tracks these and sets them on whichever server
// connection runs the client's transaction).
var pooledParams = map[string]bool{"application_name": true, "timezone": true, "client_encoding": true, "datestyle": true}

// localSettings moves, when cc reaches PostgreSQL through a transaction
// pooler, the startup parameters the pooler would refuse (search_path,
// statement_timeout, ...) out of cc and returns one statement that sets
// them for the current transaction instead, to run right after BEGIN; ""
// when there is none (a direct connection keeps them for its session).
func localSettings(cc *pgx.ConnConfig) string {
	if !behindPooler(cc) {
		return ""
	}
	var sets []string
	for _, k := range slices.Sorted(maps.Keys(cc.RuntimeParams)) {
		if pooledParams[strings.ToLower(k)] {
			continue
		}
		sets = append(sets, "pg_catalog.set_config("+literal(k)+", "+literal(cc.RuntimeParams[k])+", true)")
		delete(cc.RuntimeParams, k)
	}
	if len(sets) == 0 {
		return ""
	}
	return "SELECT " + strings.Join(sets, ", ")
}

// literal quotes s as an SQL string constant (standard_conforming_strings
// is on in every supported PostgreSQL).
func literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
