package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atriumhq/atrium/core/kernel"
)

// Cache is a key-value cache in Redis, shared by replicas. Its errors are
// kernel.KindUnavailable: a cache that is down costs the requests that
// needed it, nothing more.
type Cache struct {
	rdb    *goredis.Client
	prefix string
}

// NewCache returns a cache whose keys start with prefix.
func NewCache(rdb *goredis.Client, prefix string) *Cache { return &Cache{rdb: rdb, prefix: prefix} }

// Get returns the value of key, if present.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := c.rdb.Get(ctx, c.prefix+key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, unavailable(err)
	}
	return v, true, nil
}

// Set stores value until ttl passes (zero: no expiry).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return unavailable(c.rdb.Set(ctx, c.prefix+key, value, ttl).Err())
}

// Delete removes key.
func (c *Cache) Delete(ctx context.Context, key string) error {
	return unavailable(c.rdb.Del(ctx, c.prefix+key).Err())
}

func unavailable(err error) error {
	if err == nil {
		return nil
	}
	return kernel.Wrap(kernel.KindUnavailable, err, "the cache is unavailable")
}
