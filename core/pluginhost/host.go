package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// Permissions is the permission registry as the host feeds it.
type Permissions interface {
	// Declare makes perms the plugin's permissions, dropping any it
	// declared before and no longer does (none: it is gone); a clash is an
	// error.
	Declare(plugin string, perms []sdk.Permission) error
	// Check tells whether Declare would accept perms, changing nothing.
	Check(plugin string, perms []sdk.Permission) error
}

// Migrator applies plugins' tenant migrations to the tenants that enabled
// them.
type Migrator interface {
	Migrate(ctx context.Context, plugins []sdk.Manifest) error
}

// Options configure a Host.
type Options struct {
	Catalog     Catalog
	Permissions Permissions
	Migrator    Migrator
	// Dir holds the plugin binaries the catalog names.
	Dir string
	// Env is every plugin's whole environment (the core's is never passed).
	Env []string
	// Limits bound every plugin process and choose its uid.
	Limits transport.Limits
	// StartTimeout bounds a launch; CallTimeout every request.
	StartTimeout, CallTimeout time.Duration
	// HangGrace is how long past CallTimeout a plugin may take to answer
	// before it is judged hung (2 s by default).
	HangGrace   time.Duration
	Supervision Supervision
	Logger      *slog.Logger
	Metrics     Registerer
	// Attached plugins run in this process instead of being launched from
	// Dir: sdk/plugintest and tests use them. They need no catalog entry.
	Attached []AttachedPlugin
}

// AttachedPlugin is a plugin run in the core's process.
type AttachedPlugin = sdk.Plugin

// AttachedPlugins is what a test contributes to the attached_plugins group.
type AttachedPlugins []AttachedPlugin

// Host runs the plugins. Its methods are safe for concurrent use.
type Host struct {
	o       Options
	log     *slog.Logger
	metrics *metrics

	mu      sync.RWMutex
	plugins map[string]*supervised
	sync    sync.Mutex // one Sync, Register or Unregister at a time
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New returns a host; Start launches the catalog's plugins.
func New(o Options) *Host {
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.HangGrace <= 0 {
		o.HangGrace = 2 * time.Second
	}
	if o.Supervision == (Supervision{}) {
		o.Supervision = DefaultSupervision
	}
	return &Host{o: o, log: o.Logger, metrics: newMetrics(o.Metrics), plugins: map[string]*supervised{}}
}

// Start launches every registered and attached plugin and waits until each
// has started or failed to. A plugin that fails is restarted in the
// background and reported; it never stops the core from starting. The
// tenant migrations of the plugins that started are applied before Start
// returns.
func (h *Host) Start(ctx context.Context) error {
	entries, err := h.o.Catalog.List(ctx)
	if err != nil {
		return fmt.Errorf("read the plugin catalog: %w", err)
	}
	h.mu.Lock()
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.mu.Unlock()
	for _, e := range entries {
		h.supervise(e, h.binaryLauncher(e), nil)
	}
	for _, p := range h.o.Attached {
		e := Entry{Name: p.Name, Version: p.Version, Required: true, RegisteredAt: time.Now()}
		h.supervise(e, func(ctx context.Context) (*transport.Conn, error) { return transport.Attach(ctx, p, h.log) }, nil)
	}
	if err := h.migrateStarted(ctx, h.all()); err != nil && ctx.Err() == nil {
		h.log.Error("plugin tenant migrations", "error", err)
	}
	return ctx.Err()
}

// migrateStarted waits until each of ps has started or failed to, then
// applies the tenant migrations of those running to the tenants that
// enabled them.
func (h *Host) migrateStarted(ctx context.Context, ps []*supervised) error {
	var manifests []sdk.Manifest
	for _, p := range ps {
		select {
		case <-p.started:
		case <-ctx.Done():
			return ctx.Err()
		}
		if m, ok := p.runningManifest(); ok {
			manifests = append(manifests, m)
		}
	}
	if len(manifests) == 0 {
		return nil
	}
	return h.o.Migrator.Migrate(ctx, manifests)
}

// Stop stops every plugin process.
func (h *Host) Stop(context.Context) error {
	h.sync.Lock() // no Sync or Register starts a plugin from now on
	defer h.sync.Unlock()
	h.mu.Lock()
	cancel := h.cancel
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	h.wg.Wait()
	return nil
}

// supervise runs a plugin under supervision; after, if not nil, runs once
// the supervisor is done.
func (h *Host) supervise(e Entry, launch launcher, after func()) *supervised {
	p := newSupervised(e, launch, h.o.Supervision, h.log, h)
	ctx, cancel := context.WithCancel(h.ctx)
	p.stop = cancel
	h.mu.Lock()
	h.plugins[e.Name] = p
	h.mu.Unlock()
	h.wg.Go(func() {
		p.run(ctx)
		if after != nil {
			after()
		}
	})
	return p
}

func (h *Host) binaryLauncher(e Entry) launcher {
	return func(ctx context.Context) (*transport.Conn, error) {
		return transport.Launch(ctx, transport.Config{
			Name: e.Name, Path: filepath.Join(h.o.Dir, e.File), SHA256: e.SHA256,
			Logger: h.log, StartTimeout: h.o.StartTimeout, Env: h.o.Env, Limits: h.o.Limits,
		})
	}
}

// firstConn launches by returning conn the first time, then by then. The
// supervisor calls launch from one goroutine and release after it, which
// closes conn if it never got to use it (stopped at once).
type firstConn struct {
	conn *transport.Conn
	then launcher
}

func (f *firstConn) launch(ctx context.Context) (*transport.Conn, error) {
	if c := f.conn; c != nil {
		f.conn = nil
		return c, nil
	}
	return f.then(ctx)
}

func (f *firstConn) release() {
	if f.conn != nil {
		_ = f.conn.Close()
		f.conn = nil
	}
}

func (h *Host) get(name string) (*supervised, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	p, ok := h.plugins[name]
	return p, ok
}

func (h *Host) all() []*supervised {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*supervised, 0, len(h.plugins))
	for _, p := range h.plugins {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *supervised) int { return strings.Compare(a.entry.Name, b.entry.Name) })
	return out
}

// started checks a fresh process's manifest against its catalog entry and
// declares its permissions.
func (h *Host) started(p *supervised, m sdk.Manifest) error {
	if err := checkName(m.Name); err != nil {
		return err
	}
	if m.Name != p.entry.Name {
		return fmt.Errorf("the binary is plugin %q, the catalog says %q", m.Name, p.entry.Name)
	}
	if err := checkMigrations(m); err != nil {
		return err
	}
	if p.entry.Version != "" && m.Version != p.entry.Version {
		return fmt.Errorf("the binary is version %s, the catalog says %s: register the upgrade", m.Version, p.entry.Version)
	}
	if err := h.o.Permissions.Declare(m.Name, m.Permissions); err != nil {
		return fmt.Errorf("declare permissions: %w", err)
	}
	return nil
}

func (h *Host) restarted(name string)             { h.metrics.restarts.WithLabelValues(name).Inc() }
func (h *Host) stateChanged(name string, s State) { h.metrics.setState(name, s) }
func (p *supervised) runningManifest() (sdk.Manifest, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.manifest, p.conn != nil
}

// Register adds a plugin binary to the catalog, or upgrades one: the binary
// in the plugin directory is checksummed, launched and validated first, and
// the catalog changes only if it runs. Its tenant migrations are applied to
// the tenants that enabled it.
func (h *Host) Register(ctx context.Context, name, file string, required bool) (Status, error) {
	h.sync.Lock()
	defer h.sync.Unlock()
	return h.register(ctx, Entry{Name: name, File: file, Required: required}, h.o.Catalog.Put)
}

// register is Register with the catalog write given: an error from it
// changes nothing here. The caller holds h.sync.
func (h *Host) register(ctx context.Context, e Entry, write func(context.Context, Entry) error) (Status, error) {
	name, file := e.Name, e.File
	if err := checkName(name); err != nil {
		return Status{}, kernel.Invalid(kernel.FieldError{Field: "name", Message: err.Error()})
	}
	if file == "" || filepath.Base(file) != file {
		return Status{}, kernel.Invalid(kernel.FieldError{Field: "file", Message: "must be a file name in the plugin directory"})
	}
	sum, err := checksum(filepath.Join(h.o.Dir, file))
	if err != nil {
		return Status{}, kernel.Invalid(kernel.FieldError{Field: "file", Message: err.Error()})
	}
	e.SHA256, e.RegisteredAt = sum, time.Now().UTC()
	trial, err := h.binaryLauncher(e)(ctx)
	if err != nil {
		return Status{}, kernel.Wrap(kernel.KindInvalid, err, "the plugin did not start: %v", err).WithCode("plugin_invalid")
	}
	handedOver := false
	defer func() {
		if !handedOver {
			_ = trial.Close()
		}
	}()
	m := trial.Manifest()
	if m.Name != name {
		return Status{}, kernel.E(kernel.KindInvalid, "the binary is plugin %q, not %q", m.Name, name).WithCode("plugin_invalid")
	}
	if err := checkMigrations(m); err != nil {
		return Status{}, kernel.Wrap(kernel.KindInvalid, err, "%v", err).WithCode("plugin_invalid")
	}
	e.Version = m.Version
	if err := h.o.Permissions.Check(m.Name, m.Permissions); err != nil {
		return Status{}, kernel.Wrap(kernel.KindInvalid, err, "%v", err).WithCode("plugin_invalid")
	}
	if err := write(ctx, e); err != nil {
		return Status{}, err
	}
	// Only now that the catalog says so: a refused upgrade leaves the
	// running version's permissions. (Registrations are serialised by
	// h.sync, so what Check accepted still holds.)
	if err := h.o.Permissions.Declare(m.Name, m.Permissions); err != nil {
		h.log.Error("declare plugin permissions", "plugin", name, "error", err)
	}
	if old, ok := h.get(name); ok {
		old.stop()
		<-old.done
	}
	// The supervisor's first process is the one just validated: a
	// registration launches the binary once.
	handedOver = true
	first := &firstConn{conn: trial, then: h.binaryLauncher(e)}
	p := h.supervise(e, first.launch, first.release)
	if err := h.migrateStarted(ctx, []*supervised{p}); err != nil {
		if ctx.Err() != nil {
			return Status{}, ctx.Err()
		}
		h.log.Error("plugin tenant migrations", "plugin", name, "error", err)
	}
	return p.status(), nil
}

// Unregister stops a plugin and removes it from the catalog. Tenants' data
// stays in their schemas.
func (h *Host) Unregister(ctx context.Context, name string) error {
	h.sync.Lock()
	defer h.sync.Unlock()
	if err := h.o.Catalog.Delete(ctx, name); err != nil {
		return err
	}
	if p, ok := h.get(name); ok {
		h.drop(p)
	}
	return nil
}

// drop stops a plugin that left the catalog and withdraws its permissions.
func (h *Host) drop(p *supervised) {
	p.stop()
	<-p.done
	h.mu.Lock()
	delete(h.plugins, p.entry.Name)
	h.mu.Unlock()
	if err := h.o.Permissions.Declare(p.entry.Name, nil); err != nil {
		h.log.Error("withdraw plugin permissions", "plugin", p.entry.Name, "error", err)
	}
}

// EnabledIn applies the tenant migrations of plugins, for a tenant that
// has just enabled them. Unknown names are kernel.KindInvalid.
func (h *Host) EnabledIn(ctx context.Context, plugins []string) error {
	ps := make([]*supervised, 0, len(plugins))
	for _, name := range plugins {
		p, ok := h.get(name)
		if !ok {
			return kernel.Invalid(kernel.FieldError{Field: "plugins", Message: fmt.Sprintf("no plugin %q is registered", name)})
		}
		ps = append(ps, p)
	}
	return h.migrateStarted(ctx, ps)
}

// Known reports whether a plugin is registered.
func (h *Host) Known(name string) bool {
	_, ok := h.get(name)
	return ok
}

func checksum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.New("no such file in the plugin directory")
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// reservedNames no plugin may take. The core's own paths under /api/v1: a
// plugin of that name would have its routes shadowed by the core's. And
// the first word of the core's objects in a tenant schema (users,
// policy_modules, refresh_tokens, service_accounts, audit_log,
// atrium_plugin_version, ...),
// PostgreSQL's (pg_*), and the core's next ones: a plugin owns the objects
// named after it (Owns), so no plugin may be named like one of those.
var reservedNames = []string{"auth", "audit", "operator", "permissions", "plugins", "policies", "roles",
	"signing", "tenants", "users", "platform", "core",
	"policy", "refresh", "service", "atrium", "schema", "pg", "plugin", "outbox", "inbox", "webhooks", "events", "tenant"}

// NameReserved tells whether name is one no plugin may have.
func NameReserved(name string) bool { return slices.Contains(reservedNames, name) }

func checkName(name string) error {
	if NameReserved(name) {
		return fmt.Errorf("%q is a name the core uses", name)
	}
	return nil
}

// checkMigrations refuses a plugin whose migrations would step outside its
// own objects. They run as the plugin's owner role, which PostgreSQL keeps
// to them; this refuses the rest before anything runs.
func checkMigrations(m sdk.Manifest) error {
	for _, mg := range m.Migrations {
		if err := CheckMigration(m.Name, mg.Up); err != nil {
			return fmt.Errorf("migration %d (%s): %w", mg.Version, mg.Name, err)
		}
	}
	return nil
}

// Sync brings the running plugins in line with the catalog, after another
// replica registered, upgraded or unregistered one: a new entry is
// launched, a changed one (checksum, file, version) replaced, a removed one
// stopped. Attached plugins are left alone.
func (h *Host) Sync(ctx context.Context) error {
	h.sync.Lock()
	defer h.sync.Unlock()
	// Read under the lock: a list read before a registration that held it
	// would lack that plugin, and stop it.
	entries, err := h.o.Catalog.List(ctx)
	if err != nil {
		return fmt.Errorf("read the plugin catalog: %w", err)
	}
	h.mu.RLock()
	stopped := h.ctx == nil || h.ctx.Err() != nil // not started, or stopping
	h.mu.RUnlock()
	if stopped {
		return nil
	}
	listed := map[string]bool{}
	var started []*supervised
	for _, e := range entries {
		listed[e.Name] = true
		cur, ok := h.get(e.Name)
		if ok && (cur.entry.File == "" || sameBinary(cur.entry, e)) {
			continue // attached, or already this binary
		}
		launch, release := h.binaryLauncher(e), func() {}
		if ok {
			// An upgrade registered on another replica: as Register does,
			// the new binary is up before the old process stops, so the
			// plugin is away here only while the old one stops. One that
			// does not start is launched again by its supervisor, which
			// says why.
			if conn, err := launch(ctx); err == nil {
				first := &firstConn{conn: conn, then: launch}
				launch, release = first.launch, first.release
			}
			cur.stop()
			<-cur.done
		}
		started = append(started, h.supervise(e, launch, release))
	}
	for _, p := range h.all() {
		if p.entry.File != "" && !listed[p.entry.Name] {
			h.drop(p)
		}
	}
	return h.migrateStarted(ctx, started)
}

func sameBinary(a, b Entry) bool {
	return a.File == b.File && a.Version == b.Version && bytes.Equal(a.SHA256, b.SHA256) && a.Required == b.Required
}
