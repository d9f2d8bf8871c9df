package api

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
)

// A tenant past its places waits for one of its own to be given back, and
// is refused when none is in time; another tenant's places are its own.
// Once every request has left, the gate holds nothing for either.
func TestTenantGate(t *testing.T) {
	g := newTenantGate(2, 50*time.Millisecond, prometheus.NewRegistry())
	acme := &kernel.Tenant{ID: kernel.NewID(), Slug: "acme"}
	globex := &kernel.Tenant{ID: kernel.NewID(), Slug: "globex"}
	ctx := context.Background()

	var leaves []func()
	for range 2 {
		leave, err := g.enter(ctx, acme)
		require.NoError(t, err)
		leaves = append(leaves, leave)
	}
	_, err := g.enter(ctx, acme)
	var ke *kernel.Error
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, kernel.KindUnavailable, ke.Kind)
	assert.Equal(t, "tenant_busy", ke.Code)

	leave, err := g.enter(ctx, globex)
	require.NoError(t, err, "globex has places of its own")
	leave()

	waited := make(chan error)
	g.wait = time.Minute
	go func() {
		leave, err := g.enter(ctx, acme)
		if err == nil {
			leave()
		}
		waited <- err
	}()
	require.Eventually(t, func() bool { return testutil.ToFloat64(g.m.waiting) == 1 }, 5*time.Second, time.Millisecond)
	leaves[0]()
	require.NoError(t, <-waited, "a place given back goes to the waiting request")
	leaves[1]()

	assert.Empty(t, g.tenants, "no tenant is held once its requests have left")
	assert.Equal(t, 1.0, testutil.ToFloat64(g.m.admissions.WithLabelValues("refused")))
	assert.Equal(t, 1.0, testutil.ToFloat64(g.m.admissions.WithLabelValues("waited")))
	assert.Equal(t, 3.0, testutil.ToFloat64(g.m.admissions.WithLabelValues("immediate")))
}

// A request cancelled while it waits leaves nothing behind.
func TestTenantGateCancelledWait(t *testing.T) {
	g := newTenantGate(1, time.Minute, prometheus.NewRegistry())
	acme := &kernel.Tenant{ID: kernel.NewID(), Slug: "acme"}
	leave, err := g.enter(context.Background(), acme)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = g.enter(ctx, acme)
	require.ErrorIs(t, err, context.Canceled)
	leave()
	assert.Empty(t, g.tenants)
}
