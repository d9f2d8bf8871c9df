package pluginhost

import (
	"context"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// MemoryCache is the in-process Cache used without Redis: bounded in
// entries, each with its own expiry. Every replica has its own.
type MemoryCache struct {
	lru *lru.Cache[string, entry]
	now func() time.Time
}

type entry struct {
	value   []byte
	expires time.Time // zero: never
}

// NewMemoryCache holds up to size entries.
func NewMemoryCache(size int) *MemoryCache {
	c, _ := lru.New[string, entry](size) // fails only for a size below 1
	return &MemoryCache{lru: c, now: time.Now}
}

// Get returns a live entry.
func (c *MemoryCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	e, ok := c.lru.Get(key)
	if !ok || !e.expires.IsZero() && c.now().After(e.expires) {
		return nil, false, nil
	}
	return e.value, true, nil
}

// Set stores value until ttl passes (zero: until evicted).
func (c *MemoryCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	e := entry{value: append([]byte(nil), value...)}
	if ttl > 0 {
		e.expires = c.now().Add(ttl)
	}
	c.lru.Add(key, e)
	return nil
}

// Delete removes an entry.
func (c *MemoryCache) Delete(_ context.Context, key string) error {
	c.lru.Remove(key)
	return nil
}
