// Package postgres is Atrium's PostgreSQL infrastructure: the shared pgx
// pool, its metrics, and the platform schema's migrations.
package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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
	if o.AcquireTimeout > 0 {
		cfg.ConnConfig.Tracer = acquireBound(o.AcquireTimeout)
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
