// Package postgrestest gives tests their own throwaway database on a real
// PostgreSQL server: ATRIUM_TEST_DATABASE_URL, or the local server by default.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultAdminURL is used when ATRIUM_TEST_DATABASE_URL is unset.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the server tests create their databases on. Its user must be
// allowed to create databases and roles.
func AdminURL() string {
	if u := os.Getenv("ATRIUM_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

// NewDatabase creates an empty database, returns its URL, and drops it (with
// every connection still open to it) when the test ends.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("postgrestest: connect to %s (set ATRIUM_TEST_DATABASE_URL): %v", redact(AdminURL()), err)
	}
	defer admin.Close(context.Background())

	name := "atrium_test_" + randomSuffix()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("postgrestest: create database: %v", err)
	}
	tb.Cleanup(func() { drop(tb, name) })

	u, err := url.Parse(AdminURL())
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func drop(tb testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Errorf("postgrestest: drop %s: %v", name, err)
		return
	}
	defer admin.Close(context.Background())
	inst := installation(ctx, name)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		tb.Errorf("postgrestest: drop %s: %v", name, err)
		return
	}
	if inst == "" {
		return
	}
	// Roles are the server's, not the database's: drop the tenant and
	// plugin roles of the installation that lived in it.
	rows, err := admin.Query(ctx, `SELECT quote_ident(rolname) FROM pg_roles WHERE rolname ~ ('^at[rpo]_' || $1 || '_')`, inst)
	if err != nil {
		tb.Errorf("postgrestest: list roles of %s: %v", name, err)
		return
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Errorf("postgrestest: list roles of %s: %v", name, err)
		return
	}
	for _, r := range roles {
		if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+r); err != nil {
			tb.Errorf("postgrestest: drop role %s: %v", r, err)
		}
	}
}

// installation is the Atrium installation ID in database name, if any.
func installation(ctx context.Context, name string) string {
	u, err := url.Parse(AdminURL())
	if err != nil {
		return ""
	}
	u.Path = "/" + name
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return ""
	}
	defer conn.Close(context.Background())
	var id string
	if err := conn.QueryRow(ctx, "SELECT id FROM atrium.installation").Scan(&id); err != nil {
		return ""
	}
	return id
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// Script runs sql, which may hold several statements and no arguments, on
// the database at dbURL as its admin user (a dump, a fixture).
func Script(tb testing.TB, dbURL, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := connect(ctx, tb, dbURL)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("postgrestest: script: %v", err)
	}
}

// Exec runs sql on the database at dbURL as its admin user, for tests that
// arrange a fault behind the application's back. It returns the first
// column of the first row, if any, as text.
func Exec(tb testing.TB, dbURL, sql string, args ...any) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := connect(ctx, tb, dbURL)
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		tb.Fatalf("postgrestest: %s: %v", sql, err)
	}
	defer rows.Close()
	var out string
	if rows.Next() {
		if vals, err := rows.Values(); err == nil && len(vals) > 0 {
			out = fmt.Sprint(vals[0])
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		tb.Fatalf("postgrestest: %s: %v", sql, err)
	}
	return out
}

// Lock runs sql (say SELECT ... FOR UPDATE) as the admin user in a
// transaction of its own on the database at dbURL, and holds the locks it
// took, as another session's long transaction would, until release is
// called (it rolls back) or the test ends.
func Lock(tb testing.TB, dbURL, sql string, args ...any) (release func()) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := connect(ctx, tb, dbURL)
	tx, err := conn.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, sql, args...)
	}
	if err != nil {
		_ = conn.Close(context.Background())
		tb.Fatalf("postgrestest: lock with %s: %v", sql, err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = tx.Rollback(context.Background())
			_ = conn.Close(context.Background())
		})
	}
	tb.Cleanup(release)
	return release
}

// connect opens a connection as the admin user to the database at dbURL.
func connect(ctx context.Context, tb testing.TB, dbURL string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatalf("postgrestest: connect: %v", err)
	}
	return conn
}
