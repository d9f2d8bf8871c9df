package transport

import (
	"context"
	"io"
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
	// BlobWrite stores what r yields under key, atomically: when r fails,
	// nothing is stored and a replaced blob stays intact.
	BlobWrite(ctx context.Context, key, contentType string, r io.Reader) (sdk.BlobInfo, error)
	// BlobRead opens the blob under key, or length bytes of it from offset
	// (length -1: to the end); the info describes the whole blob. A missing
	// key is an sdk.ErrNotFound error.
	BlobRead(ctx context.Context, key string, offset, length int64) (io.ReadCloser, sdk.BlobInfo, error)
	// BlobPresign returns a URL that downloads the blob until ttl passes;
	// ok is false when the store cannot presign.
	BlobPresign(ctx context.Context, key string, ttl time.Duration) (url string, ok bool, err error)
	// BlobList describes the blobs whose keys start with prefix (Key, Size
	// and ModTime only), sorted by key.
	BlobList(ctx context.Context, prefix string) ([]sdk.BlobInfo, error)

	// Authorize decides whether the request's principal may perform action
	// on resource.
	Authorize(ctx context.Context, action string, resource sdk.Resource) (bool, error)
	// Audit adds detail to the request's audit record.
	Audit(ctx context.Context, detail map[string]any) error
	// Emit writes an integration event of the plugin's to the tenant's
	// outbox in the request's unit of work; payload is JSON.
	Emit(ctx context.Context, eventType string, payload []byte) error
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
	Route  int               // index into Manifest().Routes
	Method string            // the HTTP method
	Path   string            // the request path, for logs
	Params map[string]string // path parameters by name, without braces
	Query  url.Values
	Header http.Header // only the headers the core chooses to forward
	Body   []byte
	// BodyStream, when set, is the body of a route that streams it
	// (RouteSpec.StreamBody), sent to the plugin in chunks instead of Body.
	// A read error ends the call with a *BodyError.
	BodyStream io.Reader
	Principal  sdk.Principal
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
	// Events, when set, make the call a delivery of integration events, in
	// order, to the plugin's subscriptions for their types, in one unit of
	// work; Route is then ignored.
	Events []sdk.Event
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
	// Blob, when set, is the body instead of Body: a blob of the plugin's
	// (its key as the plugin gave it) for the host to stream to the client.
	Blob *BlobBody
}

// BlobBody names a blob that is a response's body.
type BlobBody struct {
	Key string
}

// BodyError is a failure to read a streamed request body (the client went
// away, or sent more than the host allows): not the plugin's fault.
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "read request body: " + e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }
