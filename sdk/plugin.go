package sdk

import (
	"encoding/json"
	"fmt"
	"io/fs"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// ProtocolVersion is the version of the host–plugin protocol this SDK speaks.
// Serve puts it in the manifest; a host refuses a plugin of another version.
const ProtocolVersion = wire.ProtocolVersion

// HandlerFunc serves one request. Write the response with c.JSON or
// c.NoContent, or return an error: an *Error keeps its kind (a NotFound is a
// 404 for the API client), any other error is internal. A handler that
// neither writes nor fails answers 204 No Content.
type HandlerFunc func(c *Context) error

// Plugin is everything a plugin author hands to Serve.
type Plugin struct {
	// Name is the plugin's identity and URL prefix: its routes live under
	// /api/v1/<Name> and its permissions are named "<Name>.<noun>.<verb>".
	// It matches ^[a-z][a-z0-9]{1,30}$.
	Name    string
	Version string

	Routes      []Route
	Permissions []Permission
	Settings    []Setting

	// Migrations holds golang-migrate style files at its root,
	// NNNNNN_name.up.sql and NNNNNN_name.down.sql, usually an embed.FS. The
	// host applies them to every tenant schema that enables the plugin.
	Migrations fs.FS

	// Emits are the integration events the plugin emits with Context.Emit;
	// Subscriptions the events it handles (docs/events.md).
	Emits         []EventType
	Subscriptions []Subscription
}

// Route is one endpoint of the plugin.
type Route struct {
	Method string // GET, POST, PUT, PATCH or DELETE
	// Path is relative to /api/v1/<plugin>: "" for the collection itself, or
	// segments such as "/{id}/tasks/{task_id}" where {name} is a parameter.
	Path string
	// Permission is the permission the principal needs; the core checks it
	// before the handler runs. It must be one of the plugin's Permissions.
	Permission string
	// Mutates marks a route that changes state: the core audits it and
	// commits its unit of work only if the handler succeeds.
	Mutates bool
	Summary string
	// Request and Response are example values of the request and response
	// bodies (say CreateProject{} and Project{}); their JSON Schema goes into
	// the OpenAPI document (a field's `format:"binary"` tag sets its
	// format). Leave nil for no body. A StreamBody route's Request is
	// described as a multipart/form-data body.
	Request  any
	Response any
	// StreamBody makes the body reach the handler as it arrives, through
	// c.Body, rather than whole in one message, and lets it past the core's
	// body limit (ATRIUM_HTTP_MAX_BODY_BYTES): the handler must bound what
	// it reads. For uploads; other routes keep the faster unary path.
	StreamBody bool
	Handler    HandlerFunc
}

// Permission is a permission the plugin declares for the core's registry.
type Permission struct {
	Name        string
	Description string
	// Roles are the built-in roles (admin, member, viewer) that hold the
	// permission in every tenant; a tenant may grant it to others.
	Roles []string
}

// Setting is a tenant setting the plugin reads. The plugin sees only the
// settings it declares.
type Setting struct {
	Key         string
	Description string
}

// Manifest is the plugin's self-description as the host receives it.
type Manifest struct {
	Name        string
	Version     string
	Protocol    int
	Routes      []RouteSpec
	Permissions []Permission
	Settings    []Setting
	Migrations  []Migration
	Emits       []EventTypeSpec
	Subscribes  []string // event types
}

// RouteSpec is a Route without its handler, as the host sees it.
type RouteSpec struct {
	Method         string
	Path           string
	Permission     string
	Mutates        bool
	Summary        string
	RequestSchema  json.RawMessage // JSON Schema of the body, nil for none
	ResponseSchema json.RawMessage
	StreamBody     bool
}

// Migration is one version of the plugin's tenant schema.
type Migration struct {
	Version uint64
	Name    string
	Up      string
	Down    string // empty when the migration cannot be reverted
}

// Manifest builds and validates the manifest Serve sends to the host. Call
// it in a test to catch a bad manifest before the plugin ever starts.
func (p Plugin) Manifest() (Manifest, error) {
	m := Manifest{
		Name:        p.Name,
		Version:     p.Version,
		Protocol:    ProtocolVersion,
		Permissions: p.Permissions,
		Settings:    p.Settings,
		Routes:      make([]RouteSpec, len(p.Routes)),
	}
	for i, r := range p.Routes {
		if r.Handler == nil {
			return Manifest{}, fmt.Errorf("plugin %q: route %s %q has no handler", p.Name, r.Method, r.Path)
		}
		spec := RouteSpec{
			Method: r.Method, Path: r.Path, Permission: r.Permission,
			Mutates: r.Mutates, Summary: r.Summary, StreamBody: r.StreamBody,
		}
		var err error
		if spec.RequestSchema, err = schemaOf(r.Request); err != nil {
			return Manifest{}, fmt.Errorf("plugin %q: route %s %q: request schema: %w", p.Name, r.Method, r.Path, err)
		}
		if spec.ResponseSchema, err = schemaOf(r.Response); err != nil {
			return Manifest{}, fmt.Errorf("plugin %q: route %s %q: response schema: %w", p.Name, r.Method, r.Path, err)
		}
		m.Routes[i] = spec
	}
	if err := p.eventsManifest(&m); err != nil {
		return Manifest{}, err
	}
	if p.Migrations != nil {
		var err error
		if m.Migrations, err = readMigrations(p.Migrations); err != nil {
			return Manifest{}, fmt.Errorf("plugin %q: %w", p.Name, err)
		}
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}
