package access

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Permission is one action a role can hold: "<context>.<resource>.<verb>",
// for example "identity.user.create" or "projects.task.read".
type Permission struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Owner is the core context or plugin that declared it.
	Owner string `json:"owner"`
	// Roles lists built-in roles that hold it beyond what its verb gives
	// (see BuiltinRoles); plugin manifests may set it.
	Roles []string `json:"roles,omitempty"`
}

var permissionPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)

// Verb is the last part of the name: read, create, update, delete, ...
func (p Permission) Verb() string { return p.Name[strings.LastIndexByte(p.Name, '.')+1:] }

// Context is the first part of the name.
func (p Permission) Context() string { return p.Name[:strings.IndexByte(p.Name, '.')] }

// Reserved contexts: only the core declares them, and only admin holds
// their permissions; tenant policies can never grant them.
var reservedContexts = []string{"identity", "access", "audit", "tenancy", "platform"}

// IsReserved reports whether the permission administers the platform or a
// tenant (users, roles, policies, audit), as opposed to a plugin's data.
func (p Permission) IsReserved() bool { return slices.Contains(reservedContexts, p.Context()) }

// Registry holds every declared permission. Safe for concurrent use; plugins
// register theirs when they start.
type Registry struct {
	mu    sync.RWMutex
	perms map[string]Permission
}

// NewRegistry returns a registry holding the core's permissions.
func NewRegistry() *Registry {
	r := &Registry{perms: map[string]Permission{}}
	if err := r.Replace("core", CorePermissions...); err != nil {
		panic(err) // the core's own list is fixed by the code
	}
	return r
}

// Replace makes perms the whole of owner's permissions: those owner
// declared before and no longer does are dropped, as when a plugin is
// upgraded without one or unregistered (no perms). A malformed name, a name
// another owner declared, or a plugin declaring a reserved context is
// refused, and a refusal changes nothing.
func (r *Registry) Replace(owner string, perms ...Permission) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := r.replaced(owner, perms)
	if err != nil {
		return err
	}
	r.perms = next
	return nil
}

// Check tells whether Replace would accept perms for owner, changing
// nothing: a plugin's are checked before its upgrade is committed.
func (r *Registry) Check(owner string, perms ...Permission) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, err := r.replaced(owner, perms)
	return err
}

// replaced is the registry with owner's permissions replaced by perms.
func (r *Registry) replaced(owner string, perms []Permission) (map[string]Permission, error) {
	next := make(map[string]Permission, len(r.perms)+len(perms))
	for name, p := range r.perms {
		if p.Owner != owner {
			next[name] = p
		}
	}
	for _, p := range perms {
		if !permissionPattern.MatchString(p.Name) {
			return nil, fmt.Errorf("permission %q: want <context>.<resource>.<verb> in lower case", p.Name)
		}
		if owner != "core" && p.IsReserved() {
			return nil, fmt.Errorf("permission %q: context %q is reserved for the core", p.Name, p.Context())
		}
		if prev, ok := next[p.Name]; ok && prev.Owner != owner {
			return nil, fmt.Errorf("permission %q is already declared by %s", p.Name, prev.Owner)
		}
		p.Owner = owner
		next[p.Name] = p
	}
	return next, nil
}

// Get returns a declared permission.
func (r *Registry) Get(name string) (Permission, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, ok := r.perms[name]
	return p, ok
}

// All returns every permission, sorted by name.
func (r *Registry) All() []Permission {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Permission, 0, len(r.perms))
	for _, p := range r.perms {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Permission) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CorePermissions are the tenant-level permissions the core declares.
var CorePermissions = []Permission{
	{Name: "identity.user.read", Description: "List and read the tenant's users", Roles: []string{RoleMember}},
	{Name: "identity.user.create", Description: "Create users"},
	{Name: "identity.user.update", Description: "Update users, their roles and status"},
	{Name: "identity.user.delete", Description: "Delete users"},
	{Name: "identity.service_account.read", Description: "List and read service accounts and their keys (never a key's secret)"},
	{Name: "identity.service_account.create", Description: "Create service accounts"},
	{Name: "identity.service_account.update", Description: "Update service accounts and their roles, issue and revoke their API keys"},
	{Name: "identity.service_account.delete", Description: "Delete service accounts and their keys"},
	{Name: "identity.role.read", Description: "List and read roles", Roles: []string{RoleMember}},
	{Name: "identity.role.create", Description: "Create custom roles"},
	{Name: "identity.role.update", Description: "Change custom roles"},
	{Name: "identity.role.delete", Description: "Delete custom roles"},
	{Name: "access.policy.read", Description: "Read the tenant's policy modules and their versions"},
	{Name: "access.policy.write", Description: "Upload, roll back and delete policy modules"},
	{Name: "access.policy.evaluate", Description: "Dry-run decisions against the tenant's policy"},
	{Name: "audit.log.read", Description: "Read and verify the tenant's audit log"},
	{Name: "platform.event.read", Description: "List the tenant's integration events and their delivery state"},
	{Name: "platform.event.retry", Description: "Retry an event's parked (failed) deliveries"},
	{Name: "platform.webhook.read", Description: "List and read webhooks and their delivery attempts (never a secret)"},
	{Name: "platform.webhook.manage", Description: "Add and delete webhooks"},
}
