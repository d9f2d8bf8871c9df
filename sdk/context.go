package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	fastjson "github.com/goccy/go-json"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// Context is one request to the plugin. It is a context.Context carrying the
// host call's deadline, cancellation and trace, so pass it to every host
// service and downstream call. It must not be used after the handler
// returns.
type Context struct {
	ctx   context.Context
	req   *wire.HandleRequest
	srv   *server
	route *Route

	call  call
	db    DB
	cache Cache
	blobs Blobs

	status   int32
	header   []*wire.Pair
	body     []byte
	blobBody *wire.BlobBody
	written  bool
	// bodyReader is a streamed body (Route.StreamBody), nil for a body
	// that came whole.
	bodyReader io.Reader
	checks     []*wire.Check // Require's, made by the host on return

	logger *slog.Logger
	query  url.Values
	tenant *Tenant
}

// Principal is who makes the request, as the core authenticated it.
type Principal struct {
	ID          string
	Type        string // "user" or "service"
	Email       string
	Roles       []string
	Permissions []string
}

// Tenant is the tenant the request runs in.
type Tenant struct {
	ID   string
	Slug string
	// Settings holds the tenant's values of the settings the plugin
	// declares, decoded from JSON; an unset setting is absent.
	Settings map[string]any
}

// Resource is what an authorization check is about.
type Resource struct {
	Type       string // say "project"
	ID         string
	Owner      string // the subject ID of its owner, if it has one
	Attributes map[string]any
}

func (c *Context) Deadline() (time.Time, bool) { return c.ctx.Deadline() }
func (c *Context) Done() <-chan struct{}       { return c.ctx.Done() }
func (c *Context) Err() error                  { return c.ctx.Err() }
func (c *Context) Value(key any) any           { return c.ctx.Value(key) }

// Param returns the path parameter name ("id" for "/{id}"), or "".
func (c *Context) Param(name string) string { return lookup(c.req.GetParams(), name) }

// Query returns the first value of the query parameter name, or "".
func (c *Context) Query(name string) string { return lookup(c.req.GetQuery(), name) }

// QueryValues returns every query parameter.
func (c *Context) QueryValues() url.Values {
	if c.query == nil {
		c.query = make(url.Values, len(c.req.GetQuery()))
		for _, p := range c.req.GetQuery() {
			c.query[p.Key] = append(c.query[p.Key], p.Value)
		}
	}
	return c.query
}

// Header returns the first value of a request header the core forwards
// (Accept-Language, If-Match and the like), or "".
func (c *Context) Header(name string) string {
	for _, p := range c.req.GetHeaders() {
		if strings.EqualFold(p.Key, name) {
			return p.Value
		}
	}
	return ""
}

func lookup(pairs []*wire.Pair, key string) string {
	for _, p := range pairs {
		if p.Key == key {
			return p.Value
		}
	}
	return ""
}

// Body returns the request body as it arrives. On a route with StreamBody
// it streams from the core in chunks (bound what you read: the core's body
// limit does not apply); on other routes it reads the body that came whole.
func (c *Context) Body() io.Reader {
	if c.bodyReader == nil {
		c.bodyReader = bytes.NewReader(c.req.GetBody())
	}
	return c.bodyReader
}

// ServeBlob answers with the blob under key as the body, which the core
// streams from its store to the client, so the bytes never pass through the
// plugin. Set Content-Type (and ETag, Content-Disposition) with SetHeader
// first: the core answers Range requests (206) and If-None-Match and
// If-Range against the ETag (304) itself, with net/http's ServeContent.
func (c *Context) ServeBlob(key string) error {
	if c.written {
		return Internal(nil, "response written twice")
	}
	if key == "" {
		return Internal(nil, "ServeBlob needs a key")
	}
	c.written, c.status, c.blobBody = true, http.StatusOK, &wire.BlobBody{Key: key}
	return nil
}

// Redirect answers with status (302, 303 or 307) and a Location header.
func (c *Context) Redirect(status int, location string) error {
	if c.written {
		return Internal(nil, "response written twice")
	}
	if status != http.StatusFound && status != http.StatusSeeOther && status != http.StatusTemporaryRedirect {
		return Internal(nil, "redirect status %d is not 302, 303 or 307", status)
	}
	c.written, c.status = true, int32(status)
	c.SetHeader("Location", location)
	return nil
}

// JSON writes v as the JSON response body with the given status.
func (c *Context) JSON(status int, v any) error {
	if c.written {
		return Internal(nil, "response written twice")
	}
	if status < 200 || status > 599 {
		return Internal(nil, "response status %d is not in 200-599", status)
	}
	body, err := fastjson.Marshal(v)
	if err != nil {
		return Internal(err, "encode response")
	}
	c.written, c.status, c.body = true, int32(status), body
	c.SetHeader("Content-Type", "application/json")
	return nil
}

// NoContent answers 204 No Content.
func (c *Context) NoContent() error {
	if c.written {
		return Internal(nil, "response written twice")
	}
	c.written, c.status = true, http.StatusNoContent
	return nil
}

// SetHeader sets a response header, such as Location after a create.
func (c *Context) SetHeader(name, value string) {
	name = http.CanonicalHeaderKey(name)
	for _, p := range c.header {
		if p.Key == name {
			p.Value = value
			return
		}
	}
	c.header = append(c.header, &wire.Pair{Key: name, Value: value})
}

// Principal returns who makes the request.
func (c *Context) Principal() Principal {
	p := c.req.GetPrincipal()
	return Principal{
		ID: p.GetId(), Type: p.GetType(), Email: p.GetEmail(),
		Roles: p.GetRoles(), Permissions: p.GetPermissions(),
	}
}

// Tenant returns the tenant the request runs in. A setting whose value the
// host sent malformed is left out and logged.
func (c *Context) Tenant() Tenant {
	if c.tenant == nil {
		t := c.req.GetTenant()
		c.tenant = &Tenant{ID: t.GetId(), Slug: t.GetSlug()}
		if raw := t.GetSettings(); len(raw) > 0 {
			c.tenant.Settings = make(map[string]any, len(raw))
			for k, v := range raw {
				if !c.srv.settings[k] {
					continue
				}
				var val any
				if err := json.Unmarshal(v, &val); err != nil {
					c.Logger().Warn("tenant setting is not JSON", "setting", k, "error", err)
					continue
				}
				c.tenant.Settings[k] = val
			}
		}
	}
	return *c.tenant
}

// RequestID returns the core's ID of the request, for correlating logs.
func (c *Context) RequestID() string { return c.req.GetRequestId() }

// Logger returns a logger whose lines carry the request ID, route, path and
// tenant, and reach the core's log under the plugin's name.
func (c *Context) Logger() *slog.Logger {
	if c.logger == nil {
		c.logger = c.srv.logger.With(
			"request_id", c.req.GetRequestId(),
			"route", c.route.Method+" "+c.route.Path,
			"path", c.req.GetPath(),
			"tenant", c.req.GetTenant().GetSlug(),
		)
	}
	return c.logger
}

// DB returns the SQL service: statements run in the request's transaction,
// in the tenant's schema, committed only if the request succeeds.
func (c *Context) DB() *DB { return &c.db }

// Cache returns the cache, whose keys are private to the tenant and plugin.
func (c *Context) Cache() *Cache { return &c.cache }

// Blobs returns the blob store, whose keys are private to the tenant.
func (c *Context) Blobs() *Blobs { return &c.blobs }

// Authorize asks the core's policy whether the principal may perform action
// (a permission name) on resource. A deny is a Forbidden error.
//
// It costs a round trip to the core; Require costs none.
func (c *Context) Authorize(action string, resource Resource) error {
	res, err := resource.toWire()
	if err != nil {
		return err
	}
	host, err := c.call.client()
	if err != nil {
		return err
	}
	resp, err := host.Authorize(c, &wire.AuthorizeRequest{CallId: c.call.id, Action: action, Resource: res})
	if err != nil {
		return hostCallError("authorize", err)
	}
	if resp.Error != nil {
		return errorFromWire(resp.Error)
	}
	if !resp.Allowed {
		return &Error{Kind: KindForbidden, Source: SourceHost,
			Message: "not allowed to " + action + " " + resource.Type + " " + resource.ID}
	}
	return nil
}

// Require makes the response depend on the principal being allowed to
// perform action on resource: the core decides when the handler returns,
// before it releases the response (or the handler's error), and a deny
// replaces either with the refusal (403) and rolls the request's
// transaction back. It costs no round trip of its own, so it suits reads:
// load, Require, respond. (Under a core too old to make such checks it
// asks at once, as Authorize does.)
//
// Use Authorize instead when the handler must know the outcome to go on:
// to branch on it, or before an effect the transaction does not undo (a
// blob or cache write).
func (c *Context) Require(action string, resource Resource) error {
	if !c.call.deferChecks {
		return c.Authorize(action, resource)
	}
	res, err := resource.toWire()
	if err != nil {
		return err
	}
	c.checks = append(c.checks, &wire.Check{Action: action, Resource: res})
	return nil
}

func (r Resource) toWire() (*wire.Resource, error) {
	res := &wire.Resource{Type: r.Type, Id: r.ID, Owner: r.Owner}
	if len(r.Attributes) > 0 {
		attrs, err := json.Marshal(r.Attributes)
		if err != nil {
			return nil, Internal(err, "encode resource attributes")
		}
		res.Attributes = attrs
	}
	return res, nil
}

// Audit adds detail to the request's audit record, which the core writes in
// the same transaction as the request's changes.
func (c *Context) Audit(detail map[string]any) error {
	raw, err := json.Marshal(detail)
	if err != nil {
		return Internal(err, "encode audit detail")
	}
	if c.call.deferAudit { // it travels with the response
		c.call.addAudit(detail)
		return nil
	}
	host, err := c.call.client()
	if err != nil {
		return err
	}
	resp, err := host.Audit(c, &wire.AuditRequest{CallId: c.call.id, Detail: raw})
	return ackError("audit", resp, err)
}

// ackError folds the two ways a host call without a result can fail.
func ackError(op string, resp *wire.Ack, err error) error {
	if err != nil {
		return hostCallError(op, err)
	}
	if resp.Error != nil {
		return errorFromWire(resp.Error)
	}
	return nil
}

var _ context.Context = (*Context)(nil)
