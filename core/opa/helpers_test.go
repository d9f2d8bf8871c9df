package opa_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
)

func newEngine(tb testing.TB, opts opa.Options) *opa.Engine {
	tb.Helper()
	e, err := opa.New(opts)
	require.NoError(tb, err)
	return e
}

// source serves one fixed policy set per tenant and counts loads.
type source struct {
	sets  map[string]policy.Set
	loads atomic.Int64
}

func (s *source) Revision(_ context.Context, tenantID string) (int64, error) {
	return s.sets[tenantID].Revision, nil
}

func (s *source) Active(_ context.Context, tenantID string) (policy.Set, error) {
	s.loads.Add(1)
	return s.sets[tenantID], nil
}

func set(rev int64, regos ...string) policy.Set {
	s := policy.Set{Revision: rev}
	for i, r := range regos {
		s.Modules = append(s.Modules, policy.Module{Name: string(rune('a' + i)), Version: 1, Rego: r, Active: true})
	}
	return s
}

// in is a member asking for action; the member holds the plugin's read,
// create and update permissions and reads users.
func in(action string) access.Input {
	return access.Input{
		Subject: access.Subject{ID: "u1", Type: "user", Email: "m@acme.test", Roles: []string{"member"},
			Permissions: []string{"projects.task.read", "projects.task.create", "projects.task.update", "identity.user.read"}},
		Action:  action,
		Tenant:  access.TenantInput{ID: "t1", Slug: "acme"},
		Request: access.RequestInput{Method: "GET", Path: "/api/v1/projects/tasks", IP: "10.0.0.7", Time: "2026-03-04T10:00:00Z"},
	}
}
