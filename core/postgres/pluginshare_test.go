package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
)

func testShares(limit int) *shares {
	s := newShares(limit)
	s.grace = 100 * time.Millisecond
	return s
}

// TestSharesDivideTheBoundBetweenBusyPools: a pool alone may use the whole
// bound; with a second pool at work each gets half, and a request past its
// pool's share waits for that pool's own connection, not another's; a pool
// idle past its grace gives its share back.
func TestSharesDivideTheBoundBetweenBusyPools(t *testing.T) {
	s := testShares(4)
	a, b := poolKey{uuid.New(), "notes"}, poolKey{uuid.New(), "notes"}
	ctx := context.Background()
	take := func(key poolKey) func() {
		t.Helper()
		done, err := s.take(ctx, key, time.Second)
		require.NoError(t, err)
		return done
	}
	var doneA []func()
	for range 4 {
		doneA = append(doneA, take(a))
	}
	assert.Equal(t, 4, s.of(a))
	assert.Zero(t, s.of(b), "a pool not at work has no share")
	doneA[3]()
	doneA[2]()
	doneB := take(b) // a has 2 in use, the share of two pools
	assert.Equal(t, 2, s.of(a))
	waiting := make(chan func(), 1)
	go func() { done, _ := s.take(ctx, a, 5*time.Second); waiting <- done }()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-waiting:
		t.Fatal("a third connection for a while b is at work")
	default:
	}
	doneB() // b is still at work for its grace
	select {
	case <-waiting:
		t.Fatal("b's connection coming back is no room for a")
	case <-time.After(50 * time.Millisecond):
	}
	select { // b's grace ends: a's share is the whole bound again
	case done := <-waiting:
		done()
	case <-time.After(2 * time.Second):
		t.Fatal("a did not get the room b left")
	}
	doneA[0]()
	doneA[1]()
	time.Sleep(150 * time.Millisecond)
	assert.Zero(t, s.of(a))
	assert.Empty(t, s.use)
}

// TestSharesWaitIsBounded: a request that gets no room in time is told
// the database is unavailable; one whose context ends gets its error; the
// share is never below one.
func TestSharesWaitIsBounded(t *testing.T) {
	s := testShares(1)
	a, b := poolKey{uuid.New(), "notes"}, poolKey{uuid.New(), "notes"}
	done, err := s.take(context.Background(), a, time.Second)
	require.NoError(t, err)
	_, err = s.take(context.Background(), a, 100*time.Millisecond)
	assert.Equal(t, kernel.KindUnavailable, kernel.KindOf(err))
	assert.ErrorContains(t, err, "no database connection was free within 100ms")
	doneB, err := s.take(context.Background(), b, time.Second)
	require.NoError(t, err)
	doneB()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.take(ctx, a, time.Second)
	assert.ErrorIs(t, err, context.Canceled)
	done()
	time.Sleep(150 * time.Millisecond)
	assert.Zero(t, s.of(a))
	assert.Empty(t, s.use)
}

// of is key's share: none for a pool not at work.
func (s *shares) of(key poolKey) int {
	share, atWork := s.current()
	if !atWork(key) {
		return 0
	}
	return share
}
