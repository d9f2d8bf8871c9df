package localpg_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/atriumhq/atrium/core/localpg"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clusterDir is a directory the postgres user can reach when we are root
// (t.TempDir is private to us).
func clusterDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "localpg-test-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(d, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return filepath.Join(d, "pg")
}

func start(t *testing.T, dir string) *localpg.Cluster {
	t.Helper()
	c, err := localpg.Start(context.Background(), dir, slog.New(slog.DiscardHandler))
	if errors.Is(err, localpg.ErrNoBinaries) {
		t.Skip("no PostgreSQL server binaries on this machine")
	}
	require.NoError(t, err)
	return c
}

func query(t *testing.T, url, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var s string
	require.NoError(t, conn.QueryRow(ctx, sql).Scan(&s))
	return s
}

func TestClusterLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	dir := clusterDir(t)

	// Fresh: initdb, start, create the atrium database.
	c := start(t, dir)
	assert.Equal(t, localpg.Database, query(t, c.URL(), "SELECT current_database()"))
	query(t, c.URL(), "SELECT 'marker'::text FROM (SELECT 1) s") // reachable
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL())
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives restarts')")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	// Adopt: a second Start while the server runs (a killed atriumd) reuses it.
	adopted := start(t, dir)
	assert.Equal(t, c.URL(), adopted.URL())
	require.NoError(t, adopted.Stop(ctx))
	_, err = pgx.Connect(ctx, c.URL())
	require.Error(t, err, "stopped means stopped")

	// Restart: back where it was, so URLs taken before still reach it.
	require.NoError(t, c.Restart(ctx))
	assert.Equal(t, "survives restarts", query(t, c.URL(), "SELECT v FROM kept"))
	require.NoError(t, c.Stop(ctx))

	// Reuse: the data directory is kept and the data with it.
	again := start(t, dir)
	defer func() { require.NoError(t, again.Stop(ctx)) }()
	assert.Equal(t, "survives restarts", query(t, again.URL(), "SELECT v FROM kept"))
	assert.Contains(t, again.AdminURL(), "/postgres?")
}

func TestUnreachableServer(t *testing.T) {
	err := localpg.Reachable(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	require.Error(t, err)
}

// As root, a checkout only root can read (a root home) still gets its
// cluster: one the postgres user can reach, kept for the next run.
func TestClusterOfACheckoutOnlyRootCanRead(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	if os.Geteuid() != 0 {
		t.Skip("runs as root only")
	}
	private := t.TempDir() // 0700, root's
	require.NoError(t, os.Chmod(private, 0o700))
	dir := filepath.Join(private, ".atrium", "pg")
	sum := sha256.Sum256([]byte(dir))
	moved := filepath.Join("/var/lib/atrium", "pg-"+hex.EncodeToString(sum[:6]))
	t.Cleanup(func() { _ = os.RemoveAll(moved) })

	c := start(t, dir)
	ctx := context.Background()
	assert.Equal(t, localpg.Database, query(t, c.URL(), "SELECT current_database()"))
	assert.Equal(t, filepath.Join(moved, "data"), query(t, c.URL(), "SHOW data_directory"))
	require.NoError(t, c.Stop(ctx))

	again := start(t, dir) // the same cluster next time
	defer func() { require.NoError(t, again.Stop(ctx)) }()
	assert.Equal(t, filepath.Join(moved, "data"), query(t, again.URL(), "SHOW data_directory"))
}
