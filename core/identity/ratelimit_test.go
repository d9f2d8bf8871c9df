package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
)

func TestMemoryLimiterCountsFixedWindows(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	l := identity.NewMemoryLimiter(3, time.Minute, c)

	for range 3 {
		wait, err := l.Take(ctx, "k")
		require.NoError(t, err)
		assert.Zero(t, wait)
	}
	c.Advance(20 * time.Second)
	wait, err := l.Take(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, 40*time.Second, wait, "refused until the window that began with the first attempt ends")
	wait, _ = l.Take(ctx, "other")
	assert.Zero(t, wait, "keys are counted apart")

	c.Advance(40 * time.Second)
	wait, _ = l.Take(ctx, "k")
	assert.Zero(t, wait, "a new window")

	for range 5 {
		_, _ = l.Take(ctx, "k")
	}
	require.NoError(t, l.Reset(ctx, "k"))
	wait, _ = l.Take(ctx, "k")
	assert.Zero(t, wait, "a successful sign-in resets the count")
}

func TestRateLimitedErrorCarriesItsKindAndWait(t *testing.T) {
	var err error = &identity.RateLimitedError{}
	assert.ErrorIs(t, err, kernel.ErrRateLimited)
	var r interface{ RetryAfter() time.Duration }
	assert.True(t, errors.As(err, &r))
}
