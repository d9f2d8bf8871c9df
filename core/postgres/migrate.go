package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// MigrateSchema brings schema up to the newest migration in dir of src.
//
// It holds a session advisory lock for the whole run, keyed by the schema,
// so replicas starting together wait for each other instead of racing: the
// driver's own lock is taken only after it has created its version table.
func MigrateSchema(ctx context.Context, pool *pgxpool.Pool, src fs.FS, dir, schema string, log *slog.Logger) error {
	lockConn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	defer lockConn.Release()
	key := lockKey("migrate:" + schema)
	if _, err := lockConn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("migrate %s: take advisory lock: %w", schema, err)
	}
	defer func() {
		// A fresh context: the unlock must run even when ctx was cancelled.
		if _, err := lockConn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", key); err != nil {
			lockConn.Conn().PgConn().Close(context.Background()) // closing drops the lock
		}
	}()
	if _, err := lockConn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("migrate %s: create schema: %w", schema, err)
	}

	// The migration's statements run with search_path set to the schema, on a
	// dedicated connection outside the shared pool.
	cc := pool.Config().ConnConfig.Copy()
	cc.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cc)
	defer db.Close()
	return runMigrate(db, src, dir, schema, log)
}

func runMigrate(db *sql.DB, src fs.FS, dir, schema string, log *slog.Logger) error {
	source, err := iofs.New(src, dir)
	if err != nil {
		return fmt.Errorf("migrate %s: read migrations: %w", schema, err)
	}
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{SchemaName: schema, MigrationsTable: "schema_migrations"})
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	m, err := migrate.NewWithInstance("iofs", source, "pgx5", driver)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	defer m.Close()
	before, _, _ := m.Version()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	after, dirty, err := m.Version()
	if err != nil {
		return fmt.Errorf("migrate %s: read version: %w", schema, err)
	}
	if after != before {
		log.Info("migrated schema", "schema", schema, "from", before, "to", after)
	} else {
		log.Debug("schema up to date", "schema", schema, "version", after, "dirty", dirty)
	}
	return nil
}

// lockKey maps a name to an advisory lock key.
func lockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("atrium:" + name))
	return int64(h.Sum64()) //nolint:gosec // wrap-around is fine for a lock key
}
