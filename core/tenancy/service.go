package tenancy

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

// FirstAdmin is the tenant's first user, created with the tenant.
type FirstAdmin struct {
	ID           uuid.UUID
	Email        string
	PasswordHash string
}

// Store keeps the tenant registry and each tenant's schema.
type Store interface {
	// Installation is the ID tenant role names carry.
	Installation(ctx context.Context) (string, error)
	// Provision creates the tenant's role, schema, tables and first admin and
	// registers it, all or nothing. A taken slug is a KindConflict error.
	Provision(ctx context.Context, t *Tenant, admin FirstAdmin) error
	Get(ctx context.Context, slug string) (*Tenant, error)
	GetByID(ctx context.Context, id uuid.UUID) (*Tenant, error)
	// List returns the tenants s selects, at most s.PageSize()+1 of them.
	List(ctx context.Context, s spec.Spec) ([]*Tenant, error)
	// Secret is the installation's secret, from which cursor keys derive.
	Secret(ctx context.Context) ([]byte, error)
	// Export writes a backup of the tenant's schema: data and migration state.
	Export(ctx context.Context, t *Tenant, w io.Writer) error
	// Restore loads a backup into target's slug, creating the tenant from
	// target when none exists, or replacing its data when replace is set.
	Restore(ctx context.Context, target *Tenant, r io.Reader, replace bool) (*Tenant, error)
	// Update loads the tenant, applies fn and saves the result in one
	// transaction; fn's error aborts it.
	Update(ctx context.Context, slug string, fn func(*Tenant) error) (*Tenant, error)
	// Delete drops the tenant's schema and role and unregisters it.
	Delete(ctx context.Context, slug string) error
}

// BackupStore keeps backup archives in object storage.
type BackupStore interface {
	Save(ctx context.Context, key string, r io.Reader) (BackupRef, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// BackupRef names a stored backup archive.
type BackupRef struct {
	Key    string
	Size   int64
	SHA256 string
}

// PasswordHasher turns a password into a stored hash, refusing weak ones.
type PasswordHasher interface {
	Hash(password string) (string, error)
}

// Service is the tenant lifecycle as operators drive it.
type Service struct {
	store   Store
	hasher  PasswordHasher
	clock   kernel.Clock
	cursors *spec.LazyCodec
	backups BackupStore
	plugins Plugins
	changed func(id uuid.UUID) // a tenant's registry entry changed; uuid.Nil: any
}

// OnChange calls f with a tenant's ID after it changed, or uuid.Nil after a
// deletion (so caches drop what they hold).
func (s *Service) OnChange(f func(id uuid.UUID)) *Service {
	s.changed = f
	return s
}

func (s *Service) notify(id uuid.UUID) {
	if s.changed != nil {
		s.changed(id)
	}
}

// Plugins is the plugin host as tenancy uses it.
type Plugins interface {
	// Known reports whether a plugin is registered.
	Known(name string) bool
	// EnabledIn applies the plugins' tenant migrations to the tenants that
	// enabled them.
	EnabledIn(ctx context.Context, plugins []string) error
}

// WithPlugins checks the plugins tenants enable against the host and
// migrates their schemas when they do.
func (s *Service) WithPlugins(p Plugins) *Service {
	s.plugins = p
	return s
}

func (s *Service) checkPlugins(names []string) error {
	if s.plugins == nil {
		return nil
	}
	for _, n := range names {
		if !s.plugins.Known(n) {
			return kernel.Invalid(kernel.FieldError{Field: "plugins", Message: fmt.Sprintf("no plugin %q is registered", n)})
		}
	}
	return nil
}

func (s *Service) enable(ctx context.Context, t *Tenant) error {
	if s.plugins == nil || len(t.Plugins) == 0 {
		return nil
	}
	if err := s.plugins.EnabledIn(ctx, t.Plugins); err != nil {
		return fmt.Errorf("tenant %s: plugin migrations: %w", t.Slug, err)
	}
	return nil
}

// WithBackupStore lets the service keep backups in object storage.
func (s *Service) WithBackupStore(b BackupStore) *Service {
	s.backups = b
	return s
}

// NewService returns a Service over store.
func NewService(store Store, hasher PasswordHasher, clock kernel.Clock) *Service {
	return &Service{store: store, hasher: hasher, clock: clock, cursors: spec.NewLazyCodec(store.Secret)}
}

// CreateInput is what an operator supplies for a new tenant.
type CreateInput struct {
	Slug          string
	Name          string
	AdminEmail    string
	AdminPassword string
	Plugins       []string
	Settings      map[string]any
}

// Create provisions a tenant with its first admin.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Tenant, error) {
	if err := CheckSlug(in.Slug); err != nil {
		return nil, err
	}
	if err := s.checkPlugins(in.Plugins); err != nil {
		return nil, err
	}
	if err := CheckSettings(in.Settings); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(in.AdminPassword)
	if err != nil {
		return nil, err
	}
	inst, err := s.store.Installation(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	t := &Tenant{
		ID:        kernel.NewID(),
		Slug:      in.Slug,
		Name:      strings.TrimSpace(in.Name),
		Schema:    SchemaName(in.Slug),
		Role:      RoleName(inst, in.Slug),
		Status:    kernel.TenantActive,
		Settings:  orEmpty(in.Settings),
		Plugins:   normalisePlugins(in.Plugins),
		CreatedAt: now,
		UpdatedAt: now,
	}
	admin := FirstAdmin{ID: kernel.NewID(), Email: strings.ToLower(strings.TrimSpace(in.AdminEmail)), PasswordHash: hash}
	if err := s.store.Provision(ctx, t, admin); err != nil {
		return nil, err
	}
	return t, s.enable(ctx, t)
}

// Get reads one tenant by slug.
func (s *Service) Get(ctx context.Context, slug string) (*Tenant, error) {
	if !ValidSlug(slug) {
		return nil, kernel.NotFound("tenant")
	}
	return s.store.Get(ctx, slug)
}

// ListFields is the allow-list of tenant lists.
var ListFields = spec.NewFields("tenant", "id", map[string]spec.Field{
	"id":         {Column: "id", Type: spec.UUID},
	"slug":       {Column: "slug", Type: spec.String, Filter: true, Sort: true},
	"name":       {Column: "name", Type: spec.String, Sort: true},
	"status":     {Column: "status", Type: spec.Enum, Values: []string{"active", "suspended"}, Filter: true},
	"created_at": {Column: "created_at", Type: spec.Time, Sort: true},
})

// Cursors verify and make list cursors.
func (s *Service) Cursors(ctx context.Context) (*spec.Codec, error) { return s.cursors.Get(ctx) }

// List returns one page of the tenants q selects (newest first unless it
// sorts otherwise) and the cursor of the next page, "" on the last.
func (s *Service) List(ctx context.Context, q spec.Spec) ([]*Tenant, string, error) {
	rows, err := s.store.List(ctx, q)
	if err != nil {
		return nil, "", err
	}
	codec, err := s.cursors.Get(ctx)
	if err != nil {
		return nil, "", err
	}
	return spec.Paginate(codec, q, ListFields, rows, func(t *Tenant) map[string]any {
		return map[string]any{"id": t.ID, "slug": t.Slug, "name": t.Name, "status": string(t.Status), "created_at": t.CreatedAt}
	})
}

// UpdateInput changes what is set; nil fields stay as they are.
type UpdateInput struct {
	Name     *string
	Settings map[string]any // replaces the settings when non-nil
	Plugins  *[]string
	Status   *kernel.TenantStatus
}

// Update changes a tenant's name, settings, plugins or status.
func (s *Service) Update(ctx context.Context, slug string, in UpdateInput) (*Tenant, error) {
	if !ValidSlug(slug) {
		return nil, kernel.NotFound("tenant")
	}
	if in.Status != nil && *in.Status != kernel.TenantActive && *in.Status != kernel.TenantSuspended {
		return nil, kernel.Invalid(kernel.FieldError{Field: "status", Message: "must be one of: active, suspended"})
	}
	if in.Plugins != nil {
		if err := s.checkPlugins(*in.Plugins); err != nil {
			return nil, err
		}
	}
	if err := CheckSettings(in.Settings); err != nil {
		return nil, err
	}
	t, err := s.store.Update(ctx, slug, func(t *Tenant) error {
		if in.Name != nil {
			t.Name = strings.TrimSpace(*in.Name)
		}
		if in.Settings != nil {
			t.Settings = maps.Clone(in.Settings)
		}
		if in.Plugins != nil {
			t.Plugins = normalisePlugins(*in.Plugins)
		}
		if in.Status != nil {
			t.Status = *in.Status
		}
		t.UpdatedAt = s.clock.Now()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(t.ID)
	if in.Plugins == nil {
		return t, nil
	}
	return t, s.enable(ctx, t)
}

// Backup writes the tenant's backup archive to w.
func (s *Service) Backup(ctx context.Context, slug string, w io.Writer) error {
	t, err := s.Get(ctx, slug)
	if err != nil {
		return err
	}
	return s.store.Export(ctx, t, w)
}

// backupPrefix is where stored backups live; restores read nothing else.
const backupPrefix = "backups/"

// BackupToStore writes the tenant's backup into the backup store, streaming:
// the store keeps nothing when the export fails.
func (s *Service) BackupToStore(ctx context.Context, slug string) (BackupRef, error) {
	if s.backups == nil {
		return BackupRef{}, kernel.E(kernel.KindUnavailable, "no backup store is configured")
	}
	t, err := s.Get(ctx, slug)
	if err != nil {
		return BackupRef{}, err
	}
	key := backupPrefix + t.Slug + "/" + s.clock.Now().UTC().Format("20060102T150405.000Z") + ".tar.gz"
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.store.Export(ctx, t, pw)) }()
	ref, err := s.backups.Save(ctx, key, pr)
	_ = pr.CloseWithError(err) // unblock the exporter if saving stopped early
	return ref, err
}

// RestoreFromStore restores a stored backup (by its key) into slug.
func (s *Service) RestoreFromStore(ctx context.Context, slug, key string, replace bool) (*Tenant, error) {
	if s.backups == nil {
		return nil, kernel.E(kernel.KindUnavailable, "no backup store is configured")
	}
	if !strings.HasPrefix(key, backupPrefix) {
		return nil, kernel.Invalid(kernel.FieldError{Field: "backup_key", Message: "must name a stored backup (backups/...)"})
	}
	r, err := s.backups.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return s.Restore(ctx, slug, r, replace)
}

// Restore loads a backup archive into the tenant slug: a new tenant, or,
// with replace, an existing one whose data the backup replaces.
func (s *Service) Restore(ctx context.Context, slug string, r io.Reader, replace bool) (*Tenant, error) {
	if err := CheckSlug(slug); err != nil {
		return nil, err
	}
	inst, err := s.store.Installation(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	target := &Tenant{
		ID: kernel.NewID(), Slug: slug, Schema: SchemaName(slug), Role: RoleName(inst, slug),
		Status: kernel.TenantActive, CreatedAt: now, UpdatedAt: now,
	}
	t, err := s.store.Restore(ctx, target, r, replace)
	if err == nil {
		s.notify(t.ID)
	}
	return t, err
}

// Delete removes a tenant, its schema, its role and all its data.
func (s *Service) Delete(ctx context.Context, slug string) error {
	if !ValidSlug(slug) {
		return kernel.NotFound("tenant")
	}
	if err := s.store.Delete(ctx, slug); err != nil {
		return err
	}
	s.notify(uuid.Nil)
	return nil
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return maps.Clone(m)
}

func normalisePlugins(p []string) []string {
	out := append([]string{}, p...) // never nil: stored as an empty array
	slices.Sort(out)
	return slices.Compact(out)
}

// Resolver finds tenants as requests carry them. Every tenant request
// resolves its token's tenant by ID, so those are cached for a short while;
// a change to a tenant drops its entry at once on this replica and, through
// the wiring's notifications, on the others.
type Resolver struct {
	store Store
	byID  *lru.Cache[uuid.UUID, cachedTenant]
	now   func() time.Time
	stats kernel.CacheStats // of byID
}

type cachedTenant struct {
	tenant *kernel.Tenant
	at     time.Time
}

// Resolver cache bounds: a suspension reaches a replica that missed its
// notification within resolverTTL.
const (
	resolverSize = 10_000
	resolverTTL  = 30 * time.Second
)

// NewResolver returns a resolver over store.
func NewResolver(store Store) *Resolver {
	byID, _ := lru.New[uuid.UUID, cachedTenant](resolverSize) // fails only for a size below 1
	return &Resolver{store: store, byID: byID, now: time.Now}
}

// CacheStats counts the lookups of tenants by ID.
func (r *Resolver) CacheStats() *kernel.CacheStats { return &r.stats }

// Invalidate drops a tenant's cached entry.
func (r *Resolver) Invalidate(id uuid.UUID) { r.byID.Remove(id) }

// InvalidateAll drops every cached tenant.
func (r *Resolver) InvalidateAll() { r.byID.Purge() }

// BySlug resolves a tenant by slug; malformed slugs are simply not found.
func (r *Resolver) BySlug(ctx context.Context, slug string) (*kernel.Tenant, error) {
	if !ValidSlug(slug) {
		return nil, kernel.NotFound("tenant")
	}
	t, err := r.store.Get(ctx, slug)
	if err != nil {
		return nil, err
	}
	return t.Scope(), nil
}

// ByID resolves a tenant by ID. Callers get their own copy.
func (r *Resolver) ByID(ctx context.Context, id uuid.UUID) (*kernel.Tenant, error) {
	if e, ok := r.byID.Get(id); ok && r.now().Sub(e.at) < resolverTTL {
		r.stats.Record(true)
		c := *e.tenant
		return &c, nil
	}
	r.stats.Record(false)
	t, err := r.store.GetByID(ctx, id)
	if err != nil {
		return nil, err
	}
	scope := t.Scope()
	r.byID.Add(id, cachedTenant{tenant: scope, at: r.now()})
	c := *scope
	return &c, nil
}
