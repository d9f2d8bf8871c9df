package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres"
)

// BenchmarkPluginReadVsCoreRead is what the plugin boundary costs a read:
// a unit of work reading one row by key as a plugin (its own login role's
// connection, its transaction ending with the session's end and COMMIT) and one
// reading a row of the same shape as the core (the tenant role, scoped with
// SET LOCAL on the core's connection). The two alternate, one after the
// other, so both meet the same machine; each reports its mean latency.
func BenchmarkPluginReadVsCoreRead(b *testing.B) {
	bd := boundaryOn(b, benchEnv(b, 8), 8)
	ctx := context.Background()
	scope := bd.acme.Scope()
	var userID string
	require.NoError(b, bd.pool.QueryRow(ctx, "SELECT id::text FROM "+bd.acme.Schema+".users LIMIT 1").Scan(&userID))
	plugin := func() error {
		return bd.uow.InTenant(ctx, scope, func(ctx context.Context) error {
			_, err := bd.sql.Query(ctx, "notes", "SELECT id, body FROM notes WHERE id = $1", []any{1})
			return err
		})
	}
	core := func() error {
		return bd.uow.InTenant(ctx, scope, func(ctx context.Context) error {
			tx, err := postgres.TxFrom(ctx)
			if err != nil {
				return err
			}
			var id, email string
			return tx.QueryRow(ctx, "SELECT id::text, email FROM users WHERE id = $1", userID).Scan(&id, &email)
		})
	}
	for range 100 { // statements prepared, connections made
		require.NoError(b, plugin())
		require.NoError(b, core())
	}
	var took [2]time.Duration
	b.ResetTimer()
	for range b.N {
		for i, read := range []func() error{plugin, core} {
			start := time.Now()
			if err := read(); err != nil {
				b.Fatal(err)
			}
			took[i] += time.Since(start)
		}
	}
	b.ReportMetric(float64(took[0].Microseconds())/float64(b.N), "plugin-µs/read")
	b.ReportMetric(float64(took[1].Microseconds())/float64(b.N), "core-µs/read")
	b.ReportMetric(float64(took[0])/float64(took[1]), "plugin/core")
	b.ReportMetric(0, "ns/op")
}
