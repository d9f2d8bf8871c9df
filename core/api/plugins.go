package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/api/model"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/telemetry"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// Plugins is the plugin host as the HTTP layer uses it.
type Plugins interface {
	Match(method, path string) (pluginhost.Match, pluginhost.Found)
	Call(ctx context.Context, m pluginhost.Match, req *transport.Request, svc transport.Services) (*transport.Response, error)
	Manifests() []sdk.Manifest
}

// forwardedHeaders are the request headers a plugin sees.
var forwardedHeaders = []string{"Accept", "Accept-Language", "Content-Type", "If-Match", "If-None-Match"}

// servePlugin answers a request under a registered plugin's path with the
// pipeline of every Tenant route (token, tenant, unit of work, audit)
// around a call to the plugin. It reports false for other paths.
func (r *Router) servePlugin(c *gin.Context) bool {
	if r.plugins == nil {
		return false
	}
	m, found := r.plugins.Match(c.Request.Method, c.Request.URL.Path)
	if found == pluginhost.NotPlugin {
		return false
	}
	path := m.Template
	if path == "" { // none of its routes: one label for all such paths
		path = pluginhost.Prefix + m.Plugin + "/*"
	}
	c.Set(ctxPluginRoute, path)
	// Log lines, the access log's included, carry it from here on too.
	c.Request = c.Request.WithContext(telemetry.WithAttrs(c.Request.Context(), slog.String("route", path)))
	rt := Route{
		Method: c.Request.Method, Path: path, Access: Tenant, Action: m.Route.Permission,
		ReadOnly: !m.Route.Mutates, Handler: r.pluginHandler(m, found),
	}
	c.Params = c.Params[:0]
	for _, k := range m.Names { // in path order: the last names the resource
		c.Params = append(c.Params, gin.Param{Key: k, Value: m.Params[k]})
	}
	r.run(c, rt)
	return true
}

// pluginHandler checks that the tenant enabled the plugin (404 otherwise,
// as if its routes did not exist), then the route's permission, then calls
// the plugin; the response is written after the unit of work commits.
func (r *Router) pluginHandler(m pluginhost.Match, found pluginhost.Found) Handler {
	return Handler{serve: func(c *gin.Context) (*reply, error) {
		ctx := c.Request.Context()
		t, _ := kernel.TenantFrom(ctx)
		switch {
		case !slices.Contains(t.Plugins, m.Plugin), found == pluginhost.NoRoute:
			return nil, kernel.E(kernel.KindNotFound, "no route for %s %s", c.Request.Method, c.Request.URL.Path)
		case found == pluginhost.WrongMethod:
			return nil, errMethodNotAllowed(c.Request.Method)
		case found == pluginhost.Unknown:
			return nil, kernel.E(kernel.KindUnavailable, "plugin %s is not running; retry later", m.Plugin).WithCode(pluginhost.ErrUnavailable.Code)
		}
		if err := r.authorize(c, m.Route.Permission); err != nil {
			return nil, err
		}
		req := &transport.Request{
			Method: c.Request.Method, Path: c.Request.URL.Path, Params: m.Params, Query: c.Request.URL.Query(),
			Header: http.Header{}, RequestID: requestID(c),
			Tenant: sdk.Tenant{ID: t.ID.String(), Slug: t.Slug, Settings: t.Settings},
		}
		if m.Route.StreamBody {
			// An upload may take longer to arrive than the server's read
			// timeout allows other requests; the call's deadline bounds it.
			_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(uploadTimeout))
			req.BodyStream = c.Request.Body
		} else {
			body, err := io.ReadAll(c.Request.Body)
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		for _, h := range forwardedHeaders {
			if v := c.Request.Header.Values(h); len(v) > 0 {
				req.Header[h] = v
			}
		}
		if p, ok := kernel.PrincipalFrom(ctx); ok {
			req.Principal = sdk.Principal{ID: p.ID.String(), Type: string(p.Type), Email: p.Email, Roles: p.Roles, Permissions: p.Permissions}
		}
		input := RequestInput(c)
		svc := r.pluginServices.For(m.Plugin, t, func(ctx context.Context, action string, res sdk.Resource) (bool, error) {
			_, err := r.authz.Authorize(ctx, action, &access.Resource{Type: res.Type, ID: res.ID, OwnerID: res.Owner, Attributes: res.Attributes}, input)
			// A refusal travels as an error carrying the decision's reasons,
			// which the plugin's c.Authorize returns as they are.
			return err == nil, err
		}, r.pluginLists(input))
		resp, err := r.plugins.Call(ctx, m, req, svc)
		if err != nil {
			return nil, err
		}
		if resp.Blob != nil {
			// Opened now, so a missing blob is still a clean problem; sent
			// once the unit of work has committed.
			b, err := openBlob(ctx, svc, resp.Blob.Key)
			if err != nil {
				return nil, err
			}
			return &reply{status: resp.Status, header: resp.Header, blob: b}, nil
		}
		return &reply{status: resp.Status, raw: resp.Body, header: resp.Header}, nil
	}}
}

// ListFilter filters plugins' lists by the tenant's policy
// (*access.Lists).
type ListFilter interface {
	Filter(ctx context.Context, action, resourceType string, cols access.ListColumns, argOffset int, req access.RequestInput) (access.Filter, error)
	Allows(ctx context.Context, action string, res access.Resource, req access.RequestInput) (bool, error)
}

// pluginLists binds the router's list filter to one request.
func (r *Router) pluginLists(req access.RequestInput) pluginhost.Lists {
	if r.lists == nil {
		return nil
	}
	return requestLists{r.lists, req}
}

type requestLists struct {
	lists ListFilter
	req   access.RequestInput
}

func (l requestLists) Filter(ctx context.Context, action, resourceType string, cols access.ListColumns, argOffset int) (access.Filter, error) {
	return l.lists.Filter(ctx, action, resourceType, cols, argOffset, l.req)
}

func (l requestLists) Allows(ctx context.Context, action string, res access.Resource) (bool, error) {
	return l.lists.Allows(ctx, action, res, l.req)
}

// MaxStreamBodyBytes bounds the body of a plugin route that streams it
// (sdk.Route.StreamBody): S3's limit for one object. The plugin enforces
// its own, smaller, limit as the body arrives.
const MaxStreamBodyBytes = 5 << 30

// streamLimit is the body limit of a plugin route that streams its body,
// or 0 for every other request. Only a request with a body asks the host.
func (r *Router) streamLimit(c *gin.Context) int64 {
	if r.plugins == nil || c.Request.ContentLength == 0 || !strings.HasPrefix(c.Request.URL.Path, pluginhost.Prefix) {
		return 0
	}
	if m, found := r.plugins.Match(c.Request.Method, c.Request.URL.Path); found == pluginhost.Matched && m.Route.StreamBody {
		return MaxStreamBodyBytes
	}
	return 0
}

// blobContent is a plugin's blob as http.ServeContent reads it: an
// io.ReadSeeker that opens the blob where the reading starts, so a Range
// request reads only its range from the store.
type blobContent struct {
	ctx   context.Context
	svc   transport.Services
	key   string
	size  int64
	pos   int64 // where the next Read starts
	rc    io.ReadCloser
	rcPos int64 // where rc reads next
}

func openBlob(ctx context.Context, svc transport.Services, key string) (*blobContent, error) {
	rc, info, err := svc.BlobRead(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	return &blobContent{ctx: ctx, svc: svc, key: key, size: info.Size, rc: rc}, nil
}

func (b *blobContent) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += b.pos
	case io.SeekEnd:
		offset += b.size
	}
	if offset < 0 {
		return 0, errors.New("seek before the start of the blob")
	}
	b.pos = offset
	return offset, nil
}

func (b *blobContent) Read(p []byte) (int, error) {
	if b.pos >= b.size {
		return 0, io.EOF
	}
	if b.rc == nil || b.rcPos != b.pos {
		b.Close()
		rc, _, err := b.svc.BlobRead(b.ctx, b.key, b.pos, -1)
		if err != nil {
			return 0, err
		}
		b.rc, b.rcPos = rc, b.pos
	}
	n, err := b.rc.Read(p)
	b.pos += int64(n)
	b.rcPos += int64(n)
	return n, err
}

func (b *blobContent) Close() error {
	if b.rc == nil {
		return nil
	}
	err := b.rc.Close()
	b.rc = nil
	return err
}

func errMethodNotAllowed(method string) error {
	return kernel.E(kernel.KindBadRequest, "method %s is not allowed here", method).WithCode("method_not_allowed")
}

func pluginStatus(s pluginhost.Status) PluginStatus {
	out := PluginStatus{Name: s.Name, Version: s.Version, State: string(s.State), Required: s.Required,
		Restarts: s.Restarts, LastError: s.LastError, LastExit: s.LastExit, PID: s.PID, Routes: []PluginRoute{},
		Permissions: convert(s.Permissions, func(p sdk.Permission) model.PluginPermission { return model.PluginPermission(p) })}
	for _, r := range s.Routes {
		out.Routes = append(out.Routes, PluginRoute{Method: r.Method, Path: pluginhost.Prefix + s.Name + r.Path, Permission: r.Permission, Mutates: r.Mutates})
	}
	if l := s.Limits; l != nil {
		out.Limits = &PluginLimits{Mechanism: string(l.Mechanism), MemoryBytes: l.MemoryBytes, CPU: l.CPU, CPUWatchdog: l.CPUWatchdog,
			Processes: l.Processes, UID: l.UID, GID: l.GID, OwnUID: l.OwnUID, Warnings: append([]string{}, l.Warnings...)}
	}
	return out
}

// PluginRoutes are the operator's plugin API.
func PluginRoutes(h *pluginhost.Host) []Route {
	tags := []string{"plugins"}
	return []Route{
		{
			Method: http.MethodGet, Path: "/api/v1/plugins", Summary: "Every plugin with its state, restarts, limits, routes and permissions",
			Tags: tags, Access: Operator,
			Handler: Output(func(*gin.Context) (PluginList, error) {
				out := PluginList{Items: []PluginStatus{}}
				for _, s := range h.Statuses() {
					out.Items = append(out.Items, pluginStatus(s))
				}
				return out, nil
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/plugins", Summary: "Register a plugin binary from the plugin directory, or upgrade one",
			// A launch and the migrations of every tenant that enables it.
			Tags: tags, Access: Operator, Action: "platform.plugin.register", Timeout: time.Minute,
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *RegisterPluginRequest) (PluginStatus, error) {
				s, err := h.Register(c.Request.Context(), strings.TrimSpace(in.Name), in.File, in.Required)
				return pluginStatus(s), err
			}),
		},
		{
			Method: http.MethodDelete, Path: "/api/v1/plugins/:name", Summary: "Stop a plugin and remove it from the catalog (tenants' data stays)",
			Tags: tags, Access: Operator, Action: "platform.plugin.unregister",
			Handler: NoContent(func(c *gin.Context) error { return h.Unregister(c.Request.Context(), c.Param("name")) }),
		},
	}
}
