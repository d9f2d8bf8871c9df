package access_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
)

func TestRegistryRefusesWhatItMustNotHold(t *testing.T) {
	r := access.NewRegistry()
	require.NoError(t, r.Replace("projects", access.Permission{Name: "projects.task.read"}))
	assert.Error(t, r.Replace("projects", access.Permission{Name: "Projects.Task.Read"}), "malformed")
	assert.Error(t, r.Replace("projects", access.Permission{Name: "identity.user.create"}), "reserved context")
	assert.Error(t, r.Replace("documents", access.Permission{Name: "projects.task.read"}), "another owner's")
	assert.Error(t, r.Check("documents", access.Permission{Name: "projects.task.read"}), "Check refuses as Replace does")
	require.NoError(t, r.Check("projects", access.Permission{Name: "projects.task.purge"}))
	_, ok := r.Get("projects.task.purge")
	assert.False(t, ok, "Check changes nothing")
	p, ok := r.Get("projects.task.read")
	require.True(t, ok)
	assert.Equal(t, "projects", p.Owner)
}

func TestReplaceDropsWhatAnOwnerNoLongerDeclares(t *testing.T) {
	r := access.NewRegistry()
	require.NoError(t, r.Replace("projects", access.Permission{Name: "projects.task.read"}, access.Permission{Name: "projects.task.purge"}))
	require.NoError(t, r.Replace("documents", access.Permission{Name: "documents.doc.read"}))

	require.NoError(t, r.Replace("projects", access.Permission{Name: "projects.task.read", Description: "v2"}))
	p, ok := r.Get("projects.task.read")
	require.True(t, ok)
	assert.Equal(t, "v2", p.Description)
	_, ok = r.Get("projects.task.purge")
	assert.False(t, ok, "no longer declared")
	_, ok = r.Get("documents.doc.read")
	assert.True(t, ok, "another owner's stay")

	assert.Error(t, r.Replace("projects", access.Permission{Name: "projects.task.read"}, access.Permission{Name: "documents.doc.read"}))
	_, ok = r.Get("projects.task.read")
	assert.True(t, ok, "a refused replacement changes nothing")

	require.NoError(t, r.Replace("projects"))
	_, ok = r.Get("projects.task.read")
	assert.False(t, ok, "an owner that declares nothing holds nothing")
	_, ok = r.Get("identity.user.read")
	assert.True(t, ok, "the core's stay")
}

func TestBuiltinRolesFollowTheContract(t *testing.T) {
	r := access.NewRegistry()
	require.NoError(t, r.Replace("projects",
		access.Permission{Name: "projects.task.read"}, access.Permission{Name: "projects.task.create"},
		access.Permission{Name: "projects.task.update"}, access.Permission{Name: "projects.task.delete"},
		access.Permission{Name: "projects.report.export", Roles: []string{access.RoleViewer}},
	))
	all := r.All()
	admin := access.BuiltinPermissions(access.RoleAdmin, all)
	member := access.BuiltinPermissions(access.RoleMember, all)
	viewer := access.BuiltinPermissions(access.RoleViewer, all)

	assert.Len(t, admin, len(all), "admin holds everything")
	assert.Contains(t, admin, "audit.log.read")
	assert.ElementsMatch(t, []string{"identity.role.read", "identity.user.read",
		"projects.task.create", "projects.task.read", "projects.task.update"}, member)
	assert.ElementsMatch(t, []string{"projects.report.export", "projects.task.read"}, viewer,
		"plugin reads, plus what a manifest places explicitly")
	for _, p := range append(member, viewer...) {
		assert.NotContains(t, []string{"identity.user.create", "access.policy.write", "audit.log.read"}, p)
	}
}

// fakeRoles is an in-memory RoleStore counting reads.
type fakeRoles struct {
	roles     []access.Role
	userRoles map[uuid.UUID][]string
	reads     int
}

func (f *fakeRoles) Roles(context.Context) ([]access.Role, error) { f.reads++; return f.roles, nil }
func (f *fakeRoles) Role(context.Context, string) (*access.Role, error) {
	return nil, kernel.NotFound("role")
}
func (f *fakeRoles) CreateRole(context.Context, *access.Role) error { return nil }
func (f *fakeRoles) UpdateRole(context.Context, *access.Role) error { return nil }
func (f *fakeRoles) DeleteRole(context.Context, string) error       { return nil }
func (f *fakeRoles) UserRoles(_ context.Context, u uuid.UUID) ([]string, error) {
	r, ok := f.userRoles[u]
	if !ok {
		return nil, kernel.NotFound("user")
	}
	return r, nil
}

func TestResolverCachesUntilInvalidated(t *testing.T) {
	tenant, user := uuid.New(), uuid.New()
	store := &fakeRoles{
		roles: []access.Role{
			{Name: "viewer", Builtin: true},
			{Name: "auditor", Permissions: []string{"identity.user.read", "projects.gone.read"}},
		},
		userRoles: map[uuid.UUID][]string{user: {"auditor"}},
	}
	res := access.NewResolver(store, access.NewRegistry(), 100, 1<<62)
	ctx := context.Background()

	got, err := res.Resolve(ctx, tenant, user)
	require.NoError(t, err)
	assert.Equal(t, []string{"identity.user.read"}, got.Permissions, "undeclared permissions are dropped")
	_, _ = res.Resolve(ctx, tenant, user)
	assert.Equal(t, 1, store.reads, "the second resolution is cached")

	store.userRoles[user] = []string{"viewer"}
	res.Invalidate(uuid.New()) // another tenant: no effect
	got, _ = res.Resolve(ctx, tenant, user)
	assert.Equal(t, []string{"auditor"}, got.Roles)

	res.Invalidate(tenant)
	got, _ = res.Resolve(ctx, tenant, user)
	assert.Equal(t, []string{"viewer"}, got.Roles)

	store.userRoles[user] = []string{"auditor"}
	res.InvalidateAll()
	got, _ = res.Resolve(ctx, tenant, user)
	assert.Equal(t, []string{"auditor"}, got.Roles)
}

func TestRBACDecides(t *testing.T) {
	d, err := access.RBAC{}.Decide(context.Background(), "t", access.Input{Action: "a.b.read", Subject: access.Subject{Permissions: []string{"a.b.read"}}})
	require.NoError(t, err)
	assert.True(t, d.Allow)
	d, _ = access.RBAC{}.Decide(context.Background(), "t", access.Input{Action: "a.b.delete", Subject: access.Subject{Permissions: []string{"a.b.read"}}})
	assert.False(t, d.Allow)
	assert.NotEmpty(t, d.Reasons)
}
