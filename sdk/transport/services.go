package transport

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/atriumhq/atrium/internal/listquery"
	"github.com/atriumhq/atrium/sdk"
)

// Services is what the core provides to one plugin request. An error that is
// an *sdk.Error reaches the plugin with its kind (a Conflict stays a
// Conflict); any other error is logged here and reaches the plugin as an
// internal error with a generic message.
type Services interface {
	// Query and Exec run one statement in the request's unit of work. Args
	// and result values are nil, bool, int64, float64, string, []byte or
	// time.Time; a result may also hold any other integer or float type, a
	// [16]byte UUID, or a driver.Valuer or fmt.Stringer, reduced to those.
	// Give uuid and numeric columns as strings, json and jsonb as bytes.
	Query(ctx context.Context, sql string, args []any) (*ResultSet, error)
	Exec(ctx context.Context, sql string, args []any) (rowsAffected int64, err error)
	// Batch runs the statements in order, in one round trip to the database
	// where it can, returning one result per statement.
	Batch(ctx context.Context, stmts []Statement) ([]*ResultSet, error)

	// The cache and blob keys arrive as the plugin gave them: prefixing them
	// with the tenant (and, for the cache, the plugin) is the core's job.
	CacheGet(ctx context.Context, key string) (value []byte, found bool, err error)
	CacheSet(ctx context.Context, key string, value []byte, ttl time.Duration) error
	CacheDelete(ctx context.Context, key string) error
	BlobPut(ctx context.Context, key, contentType string, data []byte) error
	// BlobGet returns an sdk.ErrNotFound error for a missing key.
	BlobGet(ctx context.Context, key string) (data []byte, contentType string, err error)
	BlobDelete(ctx context.Context, key string) error

	// Authorize decides whether the request's principal may perform action
	// on resource.
	Authorize(ctx context.Context, action string, resource sdk.Resource) (bool, error)
	// Audit adds detail to the request's audit record.
	Audit(ctx context.Context, detail map[string]any) error
}

// A ListQuerier is Services that can run a list's query filtered by the
// tenant's policy (sdk/query.WithResource): it puts the policy's condition
// at the placeholder filter.Param and returns only rows the policy lets the
// request's principal read, as many as the LIMIT (filter.Limit) asks when
// there are as many.
type ListQuerier interface {
	ListQuery(ctx context.Context, sql string, args []any, filter *listquery.PolicyFilter) (*ResultSet, error)
}

// Statement is one statement of a batch.
type Statement struct {
	SQL  string
	Args []any
}

// ResultSet is the outcome of one statement.
type ResultSet struct {
	Columns      []string
	Rows         [][]any
	RowsAffected int64
}

// Request is one HTTP request routed to the plugin.
type Request struct {
	Route     int               // index into Manifest().Routes
	Method    string            // the HTTP method
	Path      string            // the request path, for logs
	Params    map[string]string // path parameters by name, without braces
	Query     url.Values
	Header    http.Header // only the headers the core chooses to forward
	Body      []byte
	Principal sdk.Principal
	// Tenant.Settings may hold every setting of the tenant: the plugin gets
	// only those its manifest declares.
	Tenant    sdk.Tenant
	RequestID string
	// Deadline, when set, is the request's: the plugin's handler and its
	// host calls end there, while the call's context may outlast it, so
	// that an answer given at the deadline still arrives.
	Deadline time.Time
	// Prefetch, when set, is a statement the host has run in the request's
	// unit of work because it expects the handler to run it first; the
	// plugin answers that statement from Result instead of calling back.
	// Conn.TakesPrefetch tells whether the plugin can.
	Prefetch *Prefetch
}

// Prefetch is a statement run ahead of the handler, with its result.
type Prefetch struct {
	SQL    string
	Args   []any
	Result *ResultSet
	// Used is set by Conn.Handle, whatever the handler's outcome: its first
	// statement was this one.
	Used bool
}

// Response is the plugin's answer to a Request.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}
