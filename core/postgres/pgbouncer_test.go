package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/tenancy"
)

// Through a PgBouncer in transaction pooling mode with one server
// connections per role (Debian's 1.18: no protocol-level prepared
// statements), the core's units of work for two tenants take turns on two
// server connection of the platform role, and each still runs as its
// tenant's role with its tenant's search path; a plugin's SQL runs as its
// runtime role in its tenant's schema with its statement timeout, though
// its connections could not start with them; and what a plugin leaves on
// its session (a setting, a prepared statement, committed or rolled back,
// a temporary schema)
// does not reach the next transaction on that server connection.
func TestSessionsThroughPgBouncerInTransactionMode(t *testing.T) {
	b := newBoundary(t, 8) // set up directly: migrations need a session
	bouncer := postgrestest.StartPgBouncerWith(t, postgrestest.PgBouncerConfig{PoolSize: 2})
	u, err := url.Parse(b.pool.Config().ConnString())
	require.NoError(t, err)
	u.Host = bouncer.Addr
	pool, err := postgres.NewPool(u.String(), postgres.PoolOptions{MaxConns: 8, TransactionPooler: true})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	uow := postgres.NewUnitOfWork(pool)
	conns := postgres.NewPluginConns(pool, postgres.NewKeys(pool), b.store.Installation,
		postgres.PluginConnOptions{MaxConns: 32, StatementTimeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	t.Cleanup(conns.Close)
	sql := postgres.PluginSQL{Conns: conns}
	ctx := context.Background()

	pluginRun := func(tn *tenancy.Tenant, stmt string) ([][]any, error) {
		var rows [][]any
		err := uow.InTenant(ctx, tn.Scope(), func(ctx context.Context) error {
			rs, err := sql.Query(ctx, "notes", stmt, nil)
			if err == nil {
				rows = rs.Rows
			}
			return err
		})
		return rows, err
	}

	inst, err := b.store.Installation(ctx)
	require.NoError(t, err)
	// A plugin's session-level leftovers, each on the one server connection
	// of its role in acme.
	for _, stmt := range []string{"SET work_mem = '77kB'", "PREPARE leftover AS SELECT 1", "SET search_path TO public"} {
		_, err := pluginRun(b.acme, stmt)
		require.NoError(t, err, stmt)
	}
	// A temporary table (were the role allowed one) makes a temporary
	// schema no reset takes away: the session's end refuses it, nothing
	// commits, and the server connection is dropped.
	_, runtime := tenancy.PluginRoles(inst, b.acme.Slug, "notes")
	_, err = b.pool.Exec(ctx, "GRANT TEMPORARY ON DATABASE "+b.pool.Config().ConnConfig.Database+" TO "+runtime)
	require.NoError(t, err)
	_, err = pluginRun(b.acme, "CREATE TEMPORARY TABLE shadow (id int)")
	require.ErrorContains(t, err, "plugin session holds a temporary schema")
	_, err = b.pool.Exec(ctx, "REVOKE TEMPORARY ON DATABASE "+b.pool.Config().ConnConfig.Database+" FROM "+runtime)
	require.NoError(t, err)
	// A prepared statement outlives the rollback of its transaction; the
	// connection, dirty, is closed in the middle of it, and PgBouncer then
	// drops the server connection too.
	err = uow.InTenant(ctx, b.acme.Scope(), func(ctx context.Context) error {
		if _, err := sql.Query(ctx, "notes", "PREPARE rolled_back AS SELECT 2", nil); err != nil {
			return err
		}
		_, err := sql.Query(ctx, "notes", "SELECT 1/0", nil)
		return err
	})
	require.Error(t, err)

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 16 {
		wg.Go(func() {
			tn := []*tenancy.Tenant{b.acme, b.globex}[i%2]
			_, runtime := tenancy.PluginRoles(inst, tn.Slug, "notes")
			for range 15 {
				// The core's unit of work.
				var role, path string
				err := uow.InTenant(ctx, tn.Scope(), func(ctx context.Context) error {
					tx, err := postgres.TxFrom(ctx)
					if err != nil {
						return err
					}
					return tx.QueryRow(ctx, "SELECT current_user::text, current_setting('search_path') FROM users LIMIT $1", 1).Scan(&role, &path)
				})
				if err != nil && err.Error() != "no rows in result set" {
					errs <- fmt.Errorf("%s core: %w", tn.Slug, err)
				}
				if err == nil && (role != tn.Role || strings.Trim(path, `"`) != tn.Schema) {
					errs <- fmt.Errorf("%s core: ran as %s with search_path %s", tn.Slug, role, path)
				}
				var scoped [][]any
				_ = uow.InTenant(ctx, tn.Scope(), func(ctx context.Context) error {
					tx, err := postgres.TxFrom(ctx)
					if err != nil {
						return err
					}
					return tx.QueryRow(ctx, "SELECT current_user::text, current_setting('search_path')").Scan(&role, &path)
				})
				if role != tn.Role || strings.Trim(path, `"`) != tn.Schema {
					errs <- fmt.Errorf("%s core: ran as %s with search_path %s", tn.Slug, role, path)
				}
				// The plugin's.
				scoped, err = pluginRun(tn, `SELECT current_user::text, current_setting('search_path'), current_setting('statement_timeout'),
					current_setting('work_mem') = '77kB', (SELECT count(*) FROM pg_prepared_statements), (SELECT count(*) FROM notes)`)
				switch {
				case err != nil:
					errs <- fmt.Errorf("%s plugin: %w", tn.Slug, err)
				case fmt.Sprint(scoped[0][:4]) != fmt.Sprint([]any{runtime, `"` + tn.Schema + `"`, "5s", false}) ||
					fmt.Sprint(scoped[0][4:]) != "[0 1]":
					errs <- fmt.Errorf("%s plugin: session %v", tn.Slug, scoped[0])
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []string
	for err := range errs {
		all = append(all, err.Error())
	}
	if !assert.Empty(t, all[:min(len(all), 5)], "%d failures", len(all)) {
		t.Log(bouncer.Log())
	}
}
