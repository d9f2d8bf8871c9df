// Package postgrestest gives tests their own throwaway database on a real
// PostgreSQL server: ATRIUM_TEST_DATABASE_URL, or the local server by default.
package postgrestest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atriumhq/atrium/core/localpg"
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
// every connection still open to it, and the roles its installation made)
// when the test ends.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL, err := localpg.ScratchDatabase(ctx, AdminURL(), "atrium_test_")
	if err != nil {
		tb.Fatalf("postgrestest: %v (set ATRIUM_TEST_DATABASE_URL)", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := localpg.DropScratchDatabase(ctx, AdminURL(), dbURL); err != nil {
			tb.Errorf("postgrestest: %v", err)
		}
	})
	return dbURL
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
