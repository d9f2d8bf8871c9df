package transport

import (
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// manifestFromWire rebuilds the manifest a plugin sent; the caller validates.
func manifestFromWire(w *wire.Manifest) sdk.Manifest {
	m := sdk.Manifest{
		Name:        w.GetName(),
		Version:     w.GetVersion(),
		Protocol:    int(w.GetProtocol()),
		Routes:      make([]sdk.RouteSpec, len(w.GetRoutes())),
		Permissions: make([]sdk.Permission, len(w.GetPermissions())),
		Settings:    make([]sdk.Setting, len(w.GetSettings())),
		Migrations:  make([]sdk.Migration, len(w.GetMigrations())),
	}
	for i, r := range w.GetRoutes() {
		m.Routes[i] = sdk.RouteSpec{
			Method: r.GetMethod(), Path: r.GetPath(), Permission: r.GetPermission(),
			Mutates: r.GetMutates(), Summary: r.GetSummary(),
			RequestSchema: r.GetRequestSchema(), ResponseSchema: r.GetResponseSchema(),
			StreamBody: r.GetStreamBody(),
		}
	}
	for i, p := range w.GetPermissions() {
		m.Permissions[i] = sdk.Permission{Name: p.GetName(), Description: p.GetDescription(), Roles: p.GetRoles()}
	}
	for i, s := range w.GetSettings() {
		m.Settings[i] = sdk.Setting{Key: s.GetKey(), Description: s.GetDescription()}
	}
	for i, mg := range w.GetMigrations() {
		m.Migrations[i] = sdk.Migration{Version: mg.GetVersion(), Name: mg.GetName(), Up: mg.GetUp(), Down: mg.GetDown()}
	}
	for _, e := range w.GetEmits() {
		m.Emits = append(m.Emits, sdk.EventTypeSpec{Type: e.GetType(), Description: e.GetDescription(), Schema: e.GetSchema()})
	}
	m.Subscribes = w.GetSubscribes()
	return m
}

// TakesPrefetch reports whether the plugin answers a handler's first
// statement from Request.Prefetch (its SDK is recent enough).
func (c *Conn) TakesPrefetch() bool { return c.takesPrefetch }

// setManifest validates and installs the manifest.
func (c *Conn) setManifest(m sdk.Manifest) error {
	if err := m.Validate(); err != nil {
		return err
	}
	c.manifest = m
	c.settings = make(map[string]bool, len(m.Settings))
	for _, s := range m.Settings {
		c.settings[s.Key] = true
	}
	return nil
}
