package identity

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
)

// Standings (and verified tokens, the same way) keep only what has not
// expired: each new entry drops the expired ones at the cache's old end,
// so steady sign-ins do not grow memory up to the cache's size.
func TestCachedStandingsDoNotOutliveTheirTTL(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := NewStandings(50_000, 30*time.Second)
	s.now = func() time.Time { return now }
	tenant := uuid.New()
	for range 1000 {
		s.put(uuid.New(), tenant, Standing{})
		now = now.Add(100 * time.Millisecond) // 10 sign-ins a second
	}
	assert.Equal(t, 300, s.cache.Len(), "only the last 30 s of sessions are kept")

	recent := uuid.New()
	s.put(recent, tenant, Standing{})
	now = now.Add(time.Hour)
	s.put(uuid.New(), tenant, Standing{})
	assert.Equal(t, 1, s.cache.Len(), "an hour later, only the new one")
	_, ok := s.get(recent)
	assert.False(t, ok)
}
