package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/core/postgres"
)

var policies = postgres.PolicyStore{}

// inTenant runs fn in a unit of work on tn and fails the test on error.
func (e *env) inTenant(t *testing.T, tn *kernel.Tenant, fn func(ctx context.Context) error) {
	t.Helper()
	require.NoError(t, e.uow.InTenant(context.Background(), tn, fn))
}

func TestPolicyStoreVersionsActivationAndRevision(t *testing.T) {
	e := newEnv(t, 4)
	tn := e.create(t, "acme").Scope()
	at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	e.inTenant(t, tn, func(ctx context.Context) error {
		rev, err := policies.Revision(ctx)
		require.NoError(t, err)
		assert.Zero(t, rev)

		m1, err := policies.Save(ctx, policy.Module{Name: "guard", Rego: "package tenant.guard", Tests: "t", CreatedAt: at, CreatedBy: kernel.NewID().String()})
		require.NoError(t, err)
		assert.Equal(t, 1, m1.Version)
		m2, err := policies.Save(ctx, policy.Module{Name: "guard", Rego: "package tenant.guard\np := 2", CreatedAt: at})
		require.NoError(t, err)
		assert.Equal(t, 2, m2.Version)
		_, err = policies.Save(ctx, policy.Module{Name: "other", Rego: "package tenant.other", CreatedAt: at})
		require.NoError(t, err)

		active, err := policies.Active(ctx)
		require.NoError(t, err)
		require.Len(t, active, 2)
		assert.Equal(t, []string{"guard", "other"}, []string{active[0].Name, active[1].Name})
		assert.Equal(t, 2, active[0].Version)
		assert.Empty(t, active[0].CreatedBy)

		versions, err := policies.Versions(ctx, "guard")
		require.NoError(t, err)
		require.Len(t, versions, 2)
		assert.Equal(t, []int{2, 1}, []int{versions[0].Version, versions[1].Version})
		assert.Equal(t, []bool{true, false}, []bool{versions[0].Active, versions[1].Active})
		assert.Equal(t, m1.CreatedBy, versions[1].CreatedBy)
		assert.Equal(t, at, versions[1].CreatedAt)
		assert.Equal(t, "t", versions[1].Tests)

		require.NoError(t, policies.Activate(ctx, "guard", 1))
		v1, err := policies.Version(ctx, "guard", 1)
		require.NoError(t, err)
		assert.True(t, v1.Active)
		v2, err := policies.Version(ctx, "guard", 2)
		require.NoError(t, err)
		assert.False(t, v2.Active)

		require.NoError(t, policies.Delete(ctx, "guard"))
		active, err = policies.Active(ctx)
		require.NoError(t, err)
		assert.Len(t, active, 1)

		_, err = policies.Version(ctx, "guard", 9)
		assert.ErrorIs(t, err, kernel.ErrNotFound)
		assert.ErrorIs(t, policies.Delete(ctx, "guard"), kernel.ErrNotFound)

		rev, err = policies.Lock(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 5, rev, "three saves, an activation and a deletion")
		return nil
	})
	// A missing version is refused, and the unit of work leaves nothing changed.
	err := e.uow.InTenant(context.Background(), tn, func(ctx context.Context) error { return policies.Activate(ctx, "other", 7) })
	assert.ErrorIs(t, err, kernel.ErrNotFound)
	e.inTenant(t, tn, func(ctx context.Context) error {
		active, err := policies.Active(ctx)
		require.NoError(t, err)
		require.Len(t, active, 1)
		assert.True(t, active[0].Active)
		return nil
	})
}

func TestPolicyStoreAllowsOneActiveVersion(t *testing.T) {
	e := newEnv(t, 4)
	tn := e.create(t, "acme").Scope()
	err := e.uow.InTenant(context.Background(), tn, func(ctx context.Context) error {
		tx, err := postgres.TxFrom(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "INSERT INTO policy_modules (name, version, rego, active) VALUES ('a', 1, 'x', true), ('a', 2, 'x', true)")
		return err
	})
	assert.ErrorContains(t, err, "policy_modules_one_active")
}

func TestPolicyStoreIsPerTenant(t *testing.T) {
	e := newEnv(t, 4)
	acme, globex := e.create(t, "acme").Scope(), e.create(t, "globex").Scope()
	e.inTenant(t, acme, func(ctx context.Context) error {
		_, err := policies.Save(ctx, policy.Module{Name: "guard", Rego: "package tenant", CreatedAt: time.Now()})
		return err
	})
	e.inTenant(t, globex, func(ctx context.Context) error {
		active, err := policies.Active(ctx)
		require.NoError(t, err)
		assert.Empty(t, active)
		rev, err := policies.Revision(ctx)
		require.NoError(t, err)
		assert.Zero(t, rev)
		return nil
	})
}

// TestPolicyServiceOverPostgres runs the lifecycle end to end: the
// service, the engine's sandbox and tests, the store in the tenant schema,
// and the change notification other replicas invalidate on.
func TestPolicyServiceOverPostgres(t *testing.T) {
	e := newEnv(t, 8)
	tn := e.create(t, "acme").Scope()
	engine, err := opa.New(opa.Options{})
	require.NoError(t, err)
	svc := policy.NewService(policies, engine, e.uow, kernel.SystemClock{})
	ctx := kernel.WithTenant(context.Background(), tn)
	decider := opa.NewDecider(engine, svc)

	listener, err := pgx.Connect(ctx, e.pool.Config().ConnConfig.ConnString())
	require.NoError(t, err)
	defer listener.Close(context.Background())
	_, err = listener.Exec(ctx, "LISTEN "+postgres.PolicyChannel)
	require.NoError(t, err)

	rego := "package tenant.guard\ndeny contains \"no deletes\" if endswith(input.action, \".delete\")"
	tests := "package tenant.guard_test\nimport data.tenant.guard\ntest_denied if guard.deny[\"no deletes\"] with input as {\"action\": \"a.b.delete\"}"
	m, err := svc.Upload(ctx, tn, "guard", rego, tests)
	require.NoError(t, err)
	assert.Equal(t, 1, m.Version)

	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := listener.WaitForNotification(wait)
	require.NoError(t, err)
	assert.Equal(t, tn.ID.String(), n.Payload)

	req := access.Input{Action: "projects.task.delete", Subject: access.Subject{Permissions: []string{"projects.task.delete"}}}
	d, err := decider.Decide(ctx, tn.ID.String(), req)
	require.NoError(t, err)
	assert.False(t, d.Allow)
	assert.Equal(t, []string{"no deletes"}, d.Reasons)
	assert.Regexp(t, `\+tenant:1$`, d.PolicyVersion)

	// Failing tests: refused, nothing stored, v1 still decides.
	_, err = svc.Upload(ctx, tn, "guard", "package tenant.guard", tests)
	require.ErrorIs(t, err, policy.ErrInvalid)
	versions, err := svc.Versions(ctx, tn, "guard")
	require.NoError(t, err)
	assert.Len(t, versions, 1)

	// Concurrent uploads are serialised: both land, as versions 2 and 3.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_, err := svc.Upload(ctx, tn, "guard", rego+"\n", tests)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	versions, err = svc.Versions(ctx, tn, "guard")
	require.NoError(t, err)
	assert.Equal(t, 3, versions[0].Version)

	_, err = svc.Rollback(ctx, tn, "guard", 1)
	require.NoError(t, err)
	require.NoError(t, svc.Delete(ctx, tn, "guard"))
	d, err = decider.Decide(ctx, tn.ID.String(), req)
	require.NoError(t, err)
	assert.True(t, d.Allow)
	assert.Regexp(t, `\+tenant:5$`, d.PolicyVersion)
}
