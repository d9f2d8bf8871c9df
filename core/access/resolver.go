package access

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/atriumhq/atrium/core/kernel"
)

// Resolution is what a principal holds in its tenant.
type Resolution struct {
	Roles       []string
	Permissions []string
}

// Resolver turns a tenant user into roles and permissions. Results are
// cached per tenant and user and dropped when the tenant's roles or
// assignments change (Invalidate), on this replica and, through the change
// notifications wired in core/app, on the others; a TTL bounds staleness if
// a notification is ever missed.
type Resolver struct {
	store    RoleStore
	registry *Registry
	ttl      time.Duration
	now      func() time.Time
	cache    *lru.Cache[cacheKey, cached]
	stats    kernel.CacheStats

	mu     sync.Mutex
	epochs map[uuid.UUID]uint64 // bumped per tenant on every change
	global uint64               // bumped when every tenant may have changed
}

type cacheKey struct{ tenant, user uuid.UUID }

type cached struct {
	res           Resolution
	epoch, global uint64
	expires       time.Time
}

// NewResolver returns a resolver caching up to size resolutions for ttl.
func NewResolver(store RoleStore, registry *Registry, size int, ttl time.Duration) *Resolver {
	c, err := lru.New[cacheKey, cached](max(size, 16))
	if err != nil {
		panic(err) // only for a non-positive size
	}
	return &Resolver{store: store, registry: registry, ttl: ttl, now: time.Now, cache: c, epochs: map[uuid.UUID]uint64{}}
}

// Resolve returns the user's roles and the union of their permissions. It
// reads the store (inside the request's unit of work) on a cache miss.
func (r *Resolver) Resolve(ctx context.Context, tenant, user uuid.UUID) (Resolution, error) {
	k := cacheKey{tenant, user}
	epoch, global := r.epoch(tenant)
	if c, ok := r.cache.Get(k); ok && c.epoch == epoch && c.global == global && r.now().Before(c.expires) {
		r.stats.Record(true)
		return c.res, nil
	}
	r.stats.Record(false)
	names, err := r.store.UserRoles(ctx, user)
	if err != nil {
		return Resolution{}, err
	}
	roles, err := r.store.Roles(ctx)
	if err != nil {
		return Resolution{}, err
	}
	all := r.registry.All()
	var perms []string
	for _, role := range roles {
		if !slices.Contains(names, role.Name) {
			continue
		}
		if role.Builtin {
			perms = append(perms, BuiltinPermissions(role.Name, all)...)
			continue
		}
		for _, p := range role.Permissions {
			if _, ok := r.registry.Get(p); ok { // a plugin's permission may be gone
				perms = append(perms, p)
			}
		}
	}
	slices.Sort(perms)
	res := Resolution{Roles: slices.Sorted(slices.Values(names)), Permissions: slices.Compact(perms)}
	r.cache.Add(k, cached{res: res, epoch: epoch, global: global, expires: r.now().Add(r.ttl)})
	return res, nil
}

func (r *Resolver) epoch(tenant uuid.UUID) (uint64, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epochs[tenant], r.global
}

// CacheStats counts the lookups of users' roles.
func (r *Resolver) CacheStats() *kernel.CacheStats { return &r.stats }

// Invalidate drops the cached resolutions of one tenant.
func (r *Resolver) Invalidate(tenant uuid.UUID) {
	r.mu.Lock()
	r.epochs[tenant]++
	r.mu.Unlock()
}

// InvalidateAll drops every cached resolution (a plugin's permissions
// changed, or change notifications may have been missed).
func (r *Resolver) InvalidateAll() {
	r.mu.Lock()
	r.global++
	r.mu.Unlock()
}
