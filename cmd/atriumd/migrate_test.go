package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/tenancy"
	"github.com/atriumhq/atrium/migrations"
)

type fixedHasher struct{}

func (fixedHasher) Hash(string) (string, error) { return "$2a$10$not-a-real-hash-for-tests", nil }

// migrateRun runs `atriumd migrate` against url and returns its exit code,
// stdout and stderr.
func migrateRun(t *testing.T, url string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "migrate", "--parallelism", "2")
	cmd.Env = append(os.Environ(), "ATRIUMD_TEST_RUN_MAIN=1", "DATABASE_URL="+url, "ATRIUM_LOG_LEVEL=error")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil {
		require.ErrorAs(t, err, &exit)
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	return 0, stdout.String(), stderr.String()
}

// Two tenants made to look one migration behind: alpha can take it again,
// bravo cannot (its table is still there), until bravo is fixed.
func TestMigrateReportsFailedTenantsAndExitsNonZero(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	url := postgrestest.NewDatabase(t)
	pool, err := postgres.NewPool(url, postgres.PoolOptions{MaxConns: 4})
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, postgres.MigrateSchema(ctx, pool, migrations.Core, "core", postgres.PlatformSchema, slog.New(slog.DiscardHandler)))
	set, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	svc := tenancy.NewService(postgres.NewTenantStore(pool, set), fixedHasher{}, kernel.SystemClock{})
	for _, slug := range []string{"alpha", "bravo"} {
		_, err := svc.Create(ctx, tenancy.CreateInput{Slug: slug, Name: slug, AdminEmail: "a@" + slug + ".test", AdminPassword: "correct horse battery"})
		require.NoError(t, err)
		t.Cleanup(func() { _ = svc.Delete(context.Background(), slug) }) // tenant roles outlive the database
	}
	// Both look one migration behind; alpha really is (the newest was
	// undone by its down file), bravo still has what it made.
	latest := set.Latest()
	_, err = pool.Exec(ctx, fmt.Sprintf(`UPDATE atrium.tenant_migrations SET version = %d;
		%s`, latest-1, undoNewest(t, latest, "t_alpha")))
	require.NoError(t, err)

	code, stdout, stderr := migrateRun(t, url)
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "2 tenants to migrate, 2 at a time\n")
	assert.Contains(t, stderr, "tenant bravo failed")
	assert.True(t, strings.HasSuffix(stderr, "atriumd: 1 of 2 tenants failed to migrate\n"), stderr)
	assert.Contains(t, stdout, "migrated:    1\n")
	assert.Contains(t, stdout, fmt.Sprintf("failed:      1\n  bravo (core): core migration %d: ", latest))
	assert.Contains(t, stdout, "already exists")

	_, err = pool.Exec(ctx, undoNewest(t, latest, "t_bravo"))
	require.NoError(t, err)
	code, stdout, stderr = migrateRun(t, url)
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "1 tenants to migrate")
	assert.Contains(t, stdout, "migrated:    1\nup to date:  1\nfailed:      0\n")
}

// undoNewest undoes the newest tenant migration in schema with its own
// down file (the statements of one simple query, one transaction).
func undoNewest(t *testing.T, latest uint, schema string) string {
	t.Helper()
	names, err := fs.Glob(migrations.Tenant, fmt.Sprintf("tenant/%06d_*.down.sql", latest))
	require.NoError(t, err)
	require.Len(t, names, 1)
	down, err := fs.ReadFile(migrations.Tenant, names[0])
	require.NoError(t, err)
	return fmt.Sprintf("SET LOCAL search_path TO %s;\n%s", schema, down)
}

func TestMigrateRejectsBadArguments(t *testing.T) {
	cmd := exec.Command(os.Args[0], "migrate", "--parallelism", "-1")
	cmd.Env = append(os.Environ(), "ATRIUMD_TEST_RUN_MAIN=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, "atriumd: usage: atriumd migrate [--parallelism N]\n", string(out))
}
