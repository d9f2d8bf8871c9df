package postgres_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/migrations"
)

// Replicas registering the same plugin at once: exactly one Add inserts,
// the others find it registered and leave it as it is; Add never upgrades.
func TestPluginCatalogAddRegistersOnceUnderConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	pool := newPool(t)
	require.NoError(t, postgres.MigrateSchema(ctx, pool, migrations.Core, "core", postgres.PlatformSchema, slog.New(slog.DiscardHandler)))
	catalog := postgres.NewPluginCatalog(pool)

	const replicas = 4
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	added := make([]bool, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			added[i], errs[i] = catalog.Add(ctx, pluginhost.Entry{Name: "projects", Version: "1.0.0", File: "projects",
				SHA256: sum(byte(i)), RegisteredAt: at.Add(time.Duration(i) * time.Second)})
		})
	}
	wg.Wait()
	winner := -1
	for i := range replicas {
		require.NoError(t, errs[i])
		if added[i] {
			require.Equal(t, -1, winner, "two Adds inserted")
			winner = i
		}
	}
	require.NotEqual(t, -1, winner, "no Add inserted")

	entries, err := catalog.List(ctx)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, sum(byte(winner)), entries[0].SHA256, "the entry is the one Add that inserted")

	ok, err := catalog.Add(ctx, pluginhost.Entry{Name: "projects", Version: "2.0.0", File: "projects-2", SHA256: sum(9), RegisteredAt: at})
	require.NoError(t, err)
	assert.False(t, ok)
	entries, err = catalog.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, "1.0.0", entries[0].Version, "Add is no upgrade")
}

// sum is a checksum made of b.
func sum(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
