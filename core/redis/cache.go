package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/pluginhost"
)

// Cache is a key-value cache in Redis, shared by replicas. While Redis
// cannot be reached it keeps values in fallback, in process: a cache that
// is down costs sharing between replicas, not requests.
type Cache struct {
	rdb      *goredis.Client
	prefix   string
	fallback pluginhost.Cache // of this process
}

// NewCache returns a cache whose keys start with prefix, falling back on
// fallback, a cache of this process.
func NewCache(rdb *goredis.Client, prefix string, fallback pluginhost.Cache) *Cache {
	return &Cache{rdb: rdb, prefix: prefix, fallback: fallback}
}

// Get returns the value of key, if present.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := c.rdb.Get(ctx, c.prefix+key).Bytes()
	switch {
	case err == nil:
		return v, true, nil
	case errors.Is(err, goredis.Nil):
		return nil, false, nil
	case ctx.Err() != nil:
		return nil, false, unavailable(err)
	}
	return c.fallback.Get(ctx, key)
}

// Set stores value until ttl passes (zero: no expiry).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	err := c.rdb.Set(ctx, c.prefix+key, value, ttl).Err()
	if err == nil || ctx.Err() != nil {
		return unavailable(err)
	}
	return c.fallback.Set(ctx, key, value, ttl)
}

// Delete removes key. It fails while Redis is down: the shared value would
// outlive the deletion.
func (c *Cache) Delete(ctx context.Context, key string) error {
	_ = c.fallback.Delete(ctx, key)
	return unavailable(c.rdb.Del(ctx, c.prefix+key).Err())
}

func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return kernel.Wrap(kernel.KindUnavailable, err, "the cache is unavailable")
}
