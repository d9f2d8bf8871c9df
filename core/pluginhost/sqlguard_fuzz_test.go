package pluginhost_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// FuzzCheckSQL checks the guard against PostgreSQL itself: in a throwaway
// database, a role that may use only the projects plugin's two tables and
// only the allow-listed functions (with what their operators and casts
// run) runs every statement CheckSQL allows. PostgreSQL refusing one for
// want of a privilege (SQLSTATE 42501) means the guard let through
// something outside its allow-lists. The seed corpus is the adversarial
// table of TestCheckSQLRefuses and the statements of TestCheckSQLAllows.
func FuzzCheckSQL(f *testing.F) {
	for _, sql := range append(allowedSQL, queryBuilt(f)...) {
		f.Add(sql)
	}
	for _, c := range refusedSQL {
		f.Add(c.sql)
	}
	run := oracle(f)
	f.Fuzz(func(t *testing.T, sql string) {
		if err := pluginhost.CheckSQL(plugin, sql); err != nil {
			if strings.Contains(err.Error(), "the guard failed") {
				t.Fatalf("CheckSQL(%q) panicked: %v", sql, err)
			}
			return
		}
		if err := run(sql); sqlState(err) == "42501" {
			t.Fatalf("CheckSQL allowed %q, which PostgreSQL refuses the plugin's role: %v", sql, err)
		}
	})
}

// oracleSchema is the tenant schema of the oracle: the plugin's tables, and
// tables of the core and of other plugins that its role has no rights on.
const oracleSchema = `
CREATE SCHEMA t_fuzz;
SET search_path = t_fuzz;
CREATE TYPE projects_status AS ENUM ('active', 'archived');
CREATE TABLE projects (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL DEFAULT '', description text,
	status text NOT NULL DEFAULT 'active', owner_id uuid, created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE projects_tasks (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(), project_id uuid REFERENCES projects (id), title text,
	status text NOT NULL DEFAULT 'todo', assignee_id uuid, due_date date, created_at timestamptz, updated_at timestamptz);
INSERT INTO projects (name, owner_id) VALUES ('a', gen_random_uuid()), ('b', gen_random_uuid());
INSERT INTO projects_tasks (project_id, title) SELECT id, name FROM projects;
CREATE TABLE users (id uuid PRIMARY KEY, email text, password_hash text);
CREATE TABLE roles (id uuid PRIMARY KEY, name text);
CREATE TABLE audit_log (id bigint, action text);
CREATE TABLE notes (id bigint, text text);
CREATE TABLE projectsx_y (id int);
CREATE TABLE tasks (id uuid);
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_catalog FROM PUBLIC;
REVOKE SELECT ON ALL TABLES IN SCHEMA pg_catalog FROM PUBLIC;
REVOKE SELECT ON ALL TABLES IN SCHEMA information_schema FROM PUBLIC;
RESET search_path;
`

// executedFunctions are the functions PostgreSQL checks EXECUTE on when an
// allow-listed statement runs ($1 holds the allowed function names, $2 the
// allowed type names): every overload of the allowed names; the functions
// behind operators and casts between allowed types, polymorphic ones
// included, which the executor checks like any call; and the input and
// output functions of allowed types (the planner folds a cast of a
// constant through them, checking them too: cardinality(ARRAY[0]) || ”).
// Own types are the plugin's enum and table rows (record_in, record_out).
const executedFunctions = `
WITH types AS (
	SELECT t.oid FROM pg_type t
	WHERE t.typnamespace = 'pg_catalog'::regnamespace AND (t.typname = ANY ($2)
		OR t.typname IN ('anyelement', 'anyarray', 'anynonarray', 'anyenum', 'anyrange', 'anymultirange',
			'anycompatible', 'anycompatiblearray', 'anycompatiblenonarray', 'anycompatiblerange',
			'anycompatiblemultirange', 'record', 'unknown')
		OR t.typelem IN (SELECT e.oid FROM pg_type e WHERE e.typnamespace = 'pg_catalog'::regnamespace AND e.typname = ANY ($2)))
	UNION SELECT t.oid FROM pg_type t WHERE t.typnamespace = 't_fuzz'::regnamespace
), fns AS (
	SELECT p.oid FROM pg_proc p WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY ($1)
	UNION SELECT o.oprcode FROM pg_operator o
	WHERE o.oprcode <> 0 AND (o.oprleft = 0 OR o.oprleft IN (SELECT oid FROM types)) AND o.oprright IN (SELECT oid FROM types)
	UNION SELECT c.castfunc FROM pg_cast c
	WHERE c.castfunc <> 0 AND c.castsource IN (SELECT oid FROM types) AND c.casttarget IN (SELECT oid FROM types)
	UNION SELECT io FROM pg_type t, LATERAL (VALUES (t.typinput::oid), (t.typoutput::oid)) AS v(io)
	WHERE t.oid IN (SELECT oid FROM types) AND t.typtype <> 'p'
)
SELECT string_agg(oid::regprocedure::text, ', ') FROM fns`

// oracle prepares the database and returns a function that runs a
// statement as the plugin's role, rolled back, with a short timeout.
func oracle(f *testing.F) func(sql string) error {
	if testing.Short() {
		f.Skip("the oracle needs PostgreSQL; -short runs only the guard's unit tests")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := postgres.NewPool(postgrestest.AdminURL(), postgres.PoolOptions{MaxConns: 1})
	if err == nil {
		err = postgres.Ping(ctx, admin)
		admin.Close()
	}
	if err != nil {
		f.Skipf("no PostgreSQL to check the guard against (set ATRIUM_TEST_DATABASE_URL): %v", err)
	}
	pool, err := postgres.NewPool(postgrestest.NewDatabase(f), postgres.PoolOptions{MaxConns: 2})
	if err != nil {
		f.Fatal(err)
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	role := "atrium_guard_" + hex.EncodeToString(suffix)
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP OWNED BY "+role+"; DROP ROLE "+role); err != nil {
			f.Errorf("drop the oracle's role %s: %v", role, err)
		}
		pool.Close()
	})
	var grants string
	setup := []func() error{
		func() error { _, err := pool.Exec(ctx, "CREATE ROLE "+role+" NOLOGIN"); return err },
		func() error { _, err := pool.Exec(ctx, oracleSchema); return err },
		func() error {
			return pool.QueryRow(ctx, executedFunctions, pluginhost.AllowedFunctions, pluginhost.AllowedTypes).Scan(&grants)
		},
		func() error {
			_, err := pool.Exec(ctx, "GRANT USAGE ON SCHEMA t_fuzz TO "+role+
				"; GRANT SELECT, INSERT, UPDATE, DELETE ON t_fuzz.projects, t_fuzz.projects_tasks TO "+role+
				"; GRANT EXECUTE ON FUNCTION "+grants+" TO "+role)
			return err
		},
	}
	for _, step := range setup {
		if err := step(); err != nil {
			f.Fatalf("prepare the oracle: %v", err)
		}
	}
	begin := "BEGIN; SET LOCAL statement_timeout = 200; SET LOCAL search_path = t_fuzz; SET LOCAL ROLE " + role
	return func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		pg := conn.Conn().PgConn()
		if _, err := pg.Exec(ctx, begin).ReadAll(); err != nil {
			return err
		}
		defer func() { _, _ = pg.Exec(ctx, "ROLLBACK").ReadAll() }()
		// Prepare, then run with every parameter NULL: the privileges are
		// checked when the statement is planned and run.
		desc, err := pg.Prepare(ctx, "", sql, nil)
		if err != nil {
			return err
		}
		_, err = pg.ExecPrepared(ctx, "", make([][]byte, len(desc.ParamOIDs)), nil, nil).Close()
		return err
	}
}

// sqlState is the SQLSTATE of a PostgreSQL error, "" for none.
func sqlState(err error) string {
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		return pgErr.SQLState()
	}
	return ""
}

// TestAllowListsExist: every allow-listed function and type exists in the
// server's pg_catalog (a misspelt name would allow nothing, silently).
func TestAllowListsExist(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := postgres.NewPool(postgrestest.AdminURL(), postgres.PoolOptions{MaxConns: 1})
	if err == nil {
		defer pool.Close()
		err = postgres.Ping(ctx, pool)
	}
	if err != nil {
		t.Skipf("no PostgreSQL: %v", err)
	}
	var missing []string
	err = pool.QueryRow(ctx, `SELECT coalesce(array_agg(n), '{}') FROM unnest($1::text[]) n
		WHERE NOT EXISTS (SELECT 1 FROM pg_proc WHERE proname = n AND pronamespace = 'pg_catalog'::regnamespace)`,
		pluginhost.AllowedFunctions).Scan(&missing)
	if err != nil {
		t.Fatal(err)
	}
	var missingTypes []string
	err = pool.QueryRow(ctx, `SELECT coalesce(array_agg(n), '{}') FROM unnest($1::text[]) n
		WHERE NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = n AND typnamespace = 'pg_catalog'::regnamespace)`,
		pluginhost.AllowedTypes).Scan(&missingTypes)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing)+len(missingTypes) > 0 {
		t.Errorf("not in pg_catalog: functions %s; types %s", strings.Join(missing, ", "), strings.Join(missingTypes, ", "))
	}
}

// FuzzCheckMigration: the migration walker refuses what it does not expect
// rather than panic.
func FuzzCheckMigration(f *testing.F) {
	for _, sql := range append(projectsMigrations, allowedMigrations...) {
		f.Add(sql)
	}
	for _, c := range refusedMigrations {
		f.Add(c.sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if err := pluginhost.CheckMigration(plugin, sql); err != nil && strings.Contains(err.Error(), "the guard failed") {
			t.Fatalf("CheckMigration(%q) panicked: %v", sql, err)
		}
	})
}
