package pluginhost

import (
	"context"
	"time"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// SQL runs a plugin's statements in the unit of work in ctx, as the
// tenant's role (infrastructure implements it). Errors a plugin can act on
// (a unique violation is a conflict) are *sdk.Error.
type SQL interface {
	Query(ctx context.Context, sql string, args []any) (*transport.ResultSet, error)
	Exec(ctx context.Context, sql string, args []any) (int64, error)
	// Batch runs the statements in one round trip.
	Batch(ctx context.Context, stmts []transport.Statement) ([]*transport.ResultSet, error)
}

// Cache is a shared key-value cache with expiry (Redis, or in-process).
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

// Blobs is the blob store as plugins use it.
type Blobs interface {
	Put(ctx context.Context, key, contentType string, data []byte) error
	// Get returns a kernel.ErrNotFound error for a missing key.
	Get(ctx context.Context, key string) ([]byte, string, error)
	Delete(ctx context.Context, key string) error
}

// Authorize decides about one resource for the request in ctx.
type Authorize func(ctx context.Context, action string, res sdk.Resource) (bool, error)

// Services are the host services every plugin request is served from.
type Services struct {
	SQL   SQL
	Cache Cache
	Blobs Blobs
}

// For returns the services of one request of plugin in tenant t: keys are
// prefixed so that neither tenants nor plugins meet in the cache or the
// blob store.
func (s Services) For(plugin string, t *kernel.Tenant, authorize Authorize) transport.Services {
	return &request{s: s, authorize: authorize,
		cachePrefix: "plugin:" + plugin + ":" + t.ID.String() + ":",
		blobPrefix:  "tenants/" + t.ID.String() + "/plugins/" + plugin + "/"}
}

type request struct {
	s           Services
	authorize   Authorize
	cachePrefix string
	blobPrefix  string
}

var _ transport.Services = (*request)(nil)

func (r *request) Query(ctx context.Context, sql string, args []any) (*transport.ResultSet, error) {
	if err := CheckSQL(sql); err != nil {
		return nil, err
	}
	rs, err := r.s.SQL.Query(ctx, sql, args)
	return rs, ToSDK(err)
}

func (r *request) Exec(ctx context.Context, sql string, args []any) (int64, error) {
	if err := CheckSQL(sql); err != nil {
		return 0, err
	}
	n, err := r.s.SQL.Exec(ctx, sql, args)
	return n, ToSDK(err)
}

func (r *request) Batch(ctx context.Context, stmts []transport.Statement) ([]*transport.ResultSet, error) {
	for _, st := range stmts {
		if err := CheckSQL(st.SQL); err != nil {
			return nil, err
		}
	}
	rs, err := r.s.SQL.Batch(ctx, stmts)
	return rs, ToSDK(err)
}

func (r *request) CacheGet(ctx context.Context, key string) ([]byte, bool, error) {
	v, ok, err := r.s.Cache.Get(ctx, r.cachePrefix+key)
	return v, ok, ToSDK(err)
}

func (r *request) CacheSet(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return ToSDK(r.s.Cache.Set(ctx, r.cachePrefix+key, value, ttl))
}

func (r *request) CacheDelete(ctx context.Context, key string) error {
	return ToSDK(r.s.Cache.Delete(ctx, r.cachePrefix+key))
}

func (r *request) BlobPut(ctx context.Context, key, contentType string, data []byte) error {
	return ToSDK(r.s.Blobs.Put(ctx, r.blobPrefix+key, contentType, data))
}

func (r *request) BlobGet(ctx context.Context, key string) ([]byte, string, error) {
	data, ct, err := r.s.Blobs.Get(ctx, r.blobPrefix+key)
	return data, ct, ToSDK(err)
}

func (r *request) BlobDelete(ctx context.Context, key string) error {
	return ToSDK(r.s.Blobs.Delete(ctx, r.blobPrefix+key))
}

func (r *request) Authorize(ctx context.Context, action string, res sdk.Resource) (bool, error) {
	ok, err := r.authorize(ctx, action, res)
	return ok, ToSDK(err)
}

// Audit adds the plugin's detail to the request's audit record, written
// with the request's unit of work. The keys resource_type and resource_id,
// when strings, name what the request acted on (a created resource's id,
// which the core cannot know).
func (r *request) Audit(ctx context.Context, detail map[string]any) error {
	var res audit.Resource
	rest := make(map[string]any, len(detail))
	for k, v := range detail {
		s, isString := v.(string)
		switch {
		case k == "resource_type" && isString:
			res.Type = s
		case k == "resource_id" && isString:
			res.ID = s
		default:
			rest[k] = v
		}
	}
	audit.Describe(ctx, res, rest)
	return nil
}
