package sdk

import (
	"context"
	"time"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// Cache is a byte cache shared by the core's replicas. The host prefixes
// every key with the tenant and the plugin, so keys never collide across
// either.
type Cache struct{ call *call }

// Get returns the value under key and whether there was one.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	host, err := c.call.client()
	if err != nil {
		return nil, false, err
	}
	resp, err := host.CacheGet(ctx, &wire.KeyRequest{CallId: c.call.id, Key: key})
	if err != nil {
		return nil, false, hostCallError("cache get", err)
	}
	if resp.Error != nil {
		return nil, false, errorFromWire(resp.Error)
	}
	return resp.Value, resp.Found, nil
}

// Set stores value under key for ttl; a ttl of 0 keeps it until evicted.
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return Internal(nil, "cache set %q: negative ttl %v", key, ttl)
	}
	host, err := c.call.client()
	if err != nil {
		return err
	}
	resp, err := host.CacheSet(ctx, &wire.CacheSetRequest{
		CallId: c.call.id, Key: key, Value: value, TtlMillis: ttl.Milliseconds(),
	})
	return ackError("cache set", resp, err)
}

// Delete removes key; a missing key is not an error.
func (c *Cache) Delete(ctx context.Context, key string) error {
	host, err := c.call.client()
	if err != nil {
		return err
	}
	resp, err := host.CacheDelete(ctx, &wire.KeyRequest{CallId: c.call.id, Key: key})
	return ackError("cache delete", resp, err)
}
