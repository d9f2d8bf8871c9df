package localpg_test

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/localpg"
)

func TestScratchDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	admin := os.Getenv("ATRIUM_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	ctx := context.Background()
	dbURL, err := localpg.ScratchDatabase(ctx, admin, "atrium_scratch_test_")
	require.NoError(t, err)

	// An installation's roles go with it.
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	role := "atr_scratchtest_acme"
	for _, sql := range []string{
		"CREATE SCHEMA atrium", "CREATE TABLE atrium.installation (id text)",
		"INSERT INTO atrium.installation VALUES ('scratchtest')", "CREATE ROLE " + role,
	} {
		_, err = conn.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	// The drop ends sessions still open on the database.
	t.Cleanup(func() { _ = conn.Close(ctx) })

	require.NoError(t, localpg.DropScratchDatabase(ctx, admin, dbURL))

	a, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer a.Close(ctx)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	var dbs, roles int
	require.NoError(t, a.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", strings.TrimPrefix(u.Path, "/")).Scan(&dbs))
	require.NoError(t, a.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1", role).Scan(&roles))
	assert.Zero(t, dbs)
	assert.Zero(t, roles)
}
