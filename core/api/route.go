package api

import (
	"net/http"
	"os"
	"reflect"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/audit"
)

// Access says who may call a route and in which scope its handler runs.
type Access uint8

// Access levels.
const (
	// Public routes need no token.
	Public Access = iota
	// Operator routes need a platform operator's token.
	Operator
	// Tenant routes need a tenant user's token; the handler runs inside
	// one unit of work of that tenant, committed only if it succeeds.
	Tenant
)

// Route declares one endpoint. The router mounts it in gin and describes it
// in the OpenAPI document from this same declaration, so the two cannot drift.
type Route struct {
	Method  string
	Path    string // gin syntax, from the root: /api/v1/tenants/:slug
	Summary string
	Tags    []string
	Access  Access
	// Permission a Tenant route requires (a registry name); empty means any
	// signed-in user of the tenant.
	Permission string
	// Action names what the route does in the audit log when it has no
	// Permission (the permission is the action otherwise).
	Action string
	// ReadOnly marks a POST that changes nothing (a dry run): it is not
	// recorded as a mutation.
	ReadOnly bool
	// Quiet routes (probes, scrapes) log successes at debug level.
	Quiet bool
	// MaxBodyBytes overrides the router's body limit (uploads).
	MaxBodyBytes int64
	// Timeout overrides the router's request timeout: for work longer
	// than a request's (a rollout to every tenant), or NoTimeout for a
	// stream as long as its data (a backup).
	Timeout time.Duration
	Handler Handler
}

// NoTimeout is the Timeout of a route whose request lasts as long as its
// data does (a backup streamed to the client).
const NoTimeout time.Duration = -1

// Handler is an endpoint's body together with the types it reads and writes.
// Build one with JSON, JSONNoContent, Output, NoContent, Download, Upload or Raw.
type Handler struct {
	// serve runs the endpoint; a non-nil reply is written after the unit of
	// work (if any) has committed.
	serve       func(*gin.Context) (*reply, error)
	request     reflect.Type
	response    reflect.Type
	uploadTypes []string
	status      int
	contentType string
	direct      bool // writes the response itself, before any commit
}

type reply struct {
	status int
	body   any

	// a plugin's response, as it wrote it
	raw    []byte
	header http.Header

	// a plugin's blob, served with http.ServeContent
	blob *blobContent

	// a spooled download
	file        *os.File
	size        int64
	filename    string
	contentType string
}

// JSON adapts a handler that takes a JSON body: the body is decoded strictly
// into In and validated before fn runs, and fn's result is written with status.
func JSON[In, Out any](status int, fn func(c *gin.Context, in *In) (Out, error)) Handler {
	return Handler{
		serve: func(c *gin.Context) (*reply, error) {
			in := new(In)
			if err := DecodeJSON(c.Request, in); err != nil {
				return nil, err
			}
			// Reflection for the audit record only where a request has one
			// (not on public routes: sign-in records what it needs itself).
			ctx := c.Request.Context()
			_, audited := audit.NoteFrom(ctx)
			if audited {
				audit.Describe(ctx, audit.Resource{}, inputDetails(in))
			}
			out, err := fn(c, in)
			if err != nil {
				return nil, err
			}
			if audited {
				audit.Describe(ctx, audit.Resource{ID: outputID(out)}, nil)
			}
			return &reply{status: status, body: out}, nil
		},
		request:  reflect.TypeFor[In](),
		response: reflect.TypeFor[Out](),
		status:   status,
	}
}

// Output adapts a handler without a request body whose result is written as
// JSON with status 200.
func Output[Out any](fn func(c *gin.Context) (Out, error)) Handler {
	return Handler{
		serve: func(c *gin.Context) (*reply, error) {
			out, err := fn(c)
			if err != nil {
				return nil, err
			}
			return &reply{status: http.StatusOK, body: out}, nil
		},
		response: reflect.TypeFor[Out](),
		status:   http.StatusOK,
	}
}

// JSONNoContent adapts a handler that takes a JSON body, as JSON does, and
// answers 204 without one.
func JSONNoContent[In any](fn func(c *gin.Context, in *In) error) Handler {
	h := JSON(http.StatusNoContent, func(c *gin.Context, in *In) (struct{}, error) { return struct{}{}, fn(c, in) })
	serve := h.serve
	h.serve = func(c *gin.Context) (*reply, error) {
		r, err := serve(c)
		if r != nil {
			r.body = nil
		}
		return r, err
	}
	h.response = nil
	return h
}

// NoContent adapts a handler without request or response body (204).
func NoContent(fn func(c *gin.Context) error) Handler {
	return Handler{
		serve: func(c *gin.Context) (*reply, error) {
			if err := fn(c); err != nil {
				return nil, err
			}
			return &reply{status: http.StatusNoContent}, nil
		},
		status: http.StatusNoContent,
	}
}

// Raw adapts a handler that writes its own response of the given content
// type. It suits public routes only: it writes before any commit.
func Raw(status int, contentType string, h http.Handler) Handler {
	return Handler{
		serve: func(c *gin.Context) (*reply, error) {
			h.ServeHTTP(c.Writer, c.Request)
			return nil, nil
		},
		status:      status,
		contentType: contentType,
		direct:      true,
	}
}

func (r *reply) write(c *gin.Context) {
	if r == nil {
		return
	}
	if r.file != nil {
		r.writeFile(c)
		return
	}
	if r.blob != nil {
		r.writeBlob(c)
		return
	}
	if r.header != nil || r.raw != nil {
		r.writeRaw(c)
		return
	}
	if r.body == nil {
		c.Status(r.status)
		c.Writer.WriteHeaderNow()
		return
	}
	c.JSON(r.status, r.body)
}

// writeBlob streams a plugin's blob: net/http answers Range (206),
// If-None-Match and If-Range against the plugin's ETag (304, 412) and
// writes Content-Length.
func (r *reply) writeBlob(c *gin.Context) {
	defer r.blob.Close()
	for _, h := range []string{"Content-Type", "ETag", "Cache-Control", "Last-Modified", "Content-Disposition"} {
		if v := r.header.Get(h); v != "" {
			c.Header(h, v)
		}
	}
	if c.Writer.Header().Get("Content-Type") == "" {
		c.Header("Content-Type", "application/octet-stream") // never sniffed
	}
	// A browser must not read an upload as another type than it was
	// stored with (HTML in a "text/plain" file).
	c.Header("X-Content-Type-Options", "nosniff")
	http.ServeContent(c.Writer, c.Request, "", time.Time{}, r.blob)
}

// close releases what an unwritten reply holds.
func (r *reply) close() {
	if r != nil && r.blob != nil {
		r.blob.Close()
	}
	if r != nil && r.file != nil {
		r.file.Close()
	}
}

// writeRaw writes a plugin's response: its status, its content headers and
// its body.
func (r *reply) writeRaw(c *gin.Context) {
	for _, h := range []string{"Content-Type", "Location", "ETag", "Cache-Control", "Last-Modified"} {
		if v := r.header.Get(h); v != "" {
			c.Header(h, v)
		}
	}
	if len(r.raw) == 0 || r.status == http.StatusNoContent {
		c.Status(r.status)
		c.Writer.WriteHeaderNow()
		return
	}
	ct := r.header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
	}
	c.Data(r.status, ct, r.raw)
}
