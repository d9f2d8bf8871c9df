package pluginhost

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// SQL runs a plugin's statements for the unit of work in ctx, as the
// plugin's own role in the unit of work's tenant (infrastructure implements
// it). Errors a plugin can act on (a unique violation is a conflict) are
// *sdk.Error.
type SQL interface {
	Query(ctx context.Context, plugin, sql string, args []any) (*transport.ResultSet, error)
	Exec(ctx context.Context, plugin, sql string, args []any) (int64, error)
	// Batch runs the statements in one round trip.
	Batch(ctx context.Context, plugin string, stmts []transport.Statement) ([]*transport.ResultSet, error)
	// Rollback undoes the plugin's statements so far, leaving the unit of
	// work as if none had run (a failed prefetch).
	Rollback(ctx context.Context, plugin string) error
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
	// CacheStats counts plugins' cache lookups; nil counts nothing.
	CacheStats *kernel.CacheStats
	// Tracer makes a span for each host call, a child of the plugin's
	// handler span (the call carries its context back); nil for none.
	Tracer trace.Tracer
}

// For returns the services of one request of plugin in tenant t: keys are
// prefixed so that neither tenants nor plugins meet in the cache or the
// blob store. lists filters the request's lists by the tenant's policy; nil
// fails them.
func (s Services) For(plugin string, t *kernel.Tenant, authorize Authorize, lists Lists) transport.Services {
	if s.Tracer == nil {
		s.Tracer = noop.Tracer{}
	}
	return &request{s: s, authorize: authorize, lists: lists, plugin: plugin,
		cachePrefix: "plugin:" + plugin + ":" + t.ID.String() + ":",
		blobPrefix:  "tenants/" + t.ID.String() + "/plugins/" + plugin + "/"}
}

type request struct {
	s           Services
	authorize   Authorize
	lists       Lists
	plugin      string
	cachePrefix string
	blobPrefix  string
}

var _ transport.Services = (*request)(nil)

func (r *request) Query(ctx context.Context, sql string, args []any) (*transport.ResultSet, error) {
	return traced(ctx, r, "plugin host sql query", func(ctx context.Context) (*transport.ResultSet, error) {
		if err := CheckSQL(r.plugin, sql); err != nil {
			return nil, err
		}
		rs, err := r.s.SQL.Query(ctx, r.plugin, sql, args)
		return rs, ToSDK(err)
	}, attribute.String("db.query.text", sql))
}

func (r *request) Exec(ctx context.Context, sql string, args []any) (int64, error) {
	return traced(ctx, r, "plugin host sql exec", func(ctx context.Context) (int64, error) {
		if err := CheckSQL(r.plugin, sql); err != nil {
			return 0, err
		}
		n, err := r.s.SQL.Exec(ctx, r.plugin, sql, args)
		return n, ToSDK(err)
	}, attribute.String("db.query.text", sql))
}

func (r *request) Batch(ctx context.Context, stmts []transport.Statement) ([]*transport.ResultSet, error) {
	return traced(ctx, r, "plugin host sql batch", func(ctx context.Context) ([]*transport.ResultSet, error) {
		for _, st := range stmts {
			if err := CheckSQL(r.plugin, st.SQL); err != nil {
				return nil, err
			}
		}
		rs, err := r.s.SQL.Batch(ctx, r.plugin, stmts)
		return rs, ToSDK(err)
	}, attribute.Int("db.operation.batch.size", len(stmts)))
}

func (r *request) CacheGet(ctx context.Context, key string) ([]byte, bool, error) {
	var found bool
	v, err := traced(ctx, r, "plugin host cache get", func(ctx context.Context) ([]byte, error) {
		v, ok, err := r.s.Cache.Get(ctx, r.cachePrefix+key)
		found = ok
		if err == nil {
			r.s.CacheStats.Record(ok)
		}
		return v, ToSDK(err)
	})
	return v, found, err
}

func (r *request) CacheSet(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return tracedErr(ctx, r, "plugin host cache set", func(ctx context.Context) error {
		return ToSDK(r.s.Cache.Set(ctx, r.cachePrefix+key, value, ttl))
	})
}

func (r *request) CacheDelete(ctx context.Context, key string) error {
	return tracedErr(ctx, r, "plugin host cache delete", func(ctx context.Context) error {
		return ToSDK(r.s.Cache.Delete(ctx, r.cachePrefix+key))
	})
}

func (r *request) BlobPut(ctx context.Context, key, contentType string, data []byte) error {
	return tracedErr(ctx, r, "plugin host blob put", func(ctx context.Context) error {
		return ToSDK(r.s.Blobs.Put(ctx, r.blobPrefix+key, contentType, data))
	})
}

func (r *request) BlobGet(ctx context.Context, key string) ([]byte, string, error) {
	var contentType string
	data, err := traced(ctx, r, "plugin host blob get", func(ctx context.Context) ([]byte, error) {
		data, ct, err := r.s.Blobs.Get(ctx, r.blobPrefix+key)
		contentType = ct
		return data, ToSDK(err)
	})
	return data, contentType, err
}

func (r *request) BlobDelete(ctx context.Context, key string) error {
	return tracedErr(ctx, r, "plugin host blob delete", func(ctx context.Context) error {
		return ToSDK(r.s.Blobs.Delete(ctx, r.blobPrefix+key))
	})
}

func (r *request) Authorize(ctx context.Context, action string, res sdk.Resource) (bool, error) {
	return traced(ctx, r, "plugin host authorize", func(ctx context.Context) (bool, error) {
		ok, err := r.authorize(ctx, action, res)
		return ok, ToSDK(err)
	}, attribute.String("atrium.action", action))
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

// traced runs one host call in a span of its own, named "plugin host <op>";
// attributes are built only when the span records.
func traced[T any](ctx context.Context, r *request, name string, f func(context.Context) (T, error), attrs ...attribute.KeyValue) (T, error) {
	ctx, span := r.s.Tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(append(attrs, attribute.String("atrium.plugin", r.plugin))...)
	}
	v, err := f(ctx)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return v, err
}

func tracedErr(ctx context.Context, r *request, name string, f func(context.Context) error) error {
	_, err := traced(ctx, r, name, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}
