package postgres_test

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/tenancy"
)

func TestSigningKeysRotateAndStayVerifyingForAGrace(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	keys := postgres.NewKeyStore(e.pool)

	// Replicas starting together agree on the first key.
	var wg sync.WaitGroup
	first := make([]identity.SigningKey, 8)
	for i := range first {
		wg.Go(func() {
			k, err := keys.Active(ctx)
			assert.NoError(t, err)
			first[i] = k
		})
	}
	wg.Wait()
	for _, k := range first[1:] {
		require.Equal(t, first[0].ID, k.ID)
	}
	old := first[0]
	assert.True(t, old.RetiredAt.IsZero())

	next, err := keys.Rotate(ctx, old.ID)
	require.NoError(t, err)
	require.NotEqual(t, old.ID, next.ID)
	again, err := keys.Rotate(ctx, old.ID)
	require.NoError(t, err)
	assert.Equal(t, next.ID, again.ID, "a rotation another replica already did is not repeated")
	active, err := keys.Active(ctx)
	require.NoError(t, err)
	assert.Equal(t, next.ID, active.ID)

	all, err := keys.Verifying(ctx, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{old.ID, next.ID}, kids(all))
	for _, k := range all {
		if k.ID == old.ID {
			assert.False(t, k.RetiredAt.IsZero())
			assert.Equal(t, old.Private, k.Private, "the key survives the round trip")
		}
	}
	recent, err := keys.Verifying(ctx, time.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, []string{next.ID}, kids(recent), "keys retired before since are no longer served")
}

func kids(keys []identity.SigningKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

// Both stores keep the same promises; run scopes calls as they are in production.
func TestRefreshStores(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()

	t.Run("operators", func(t *testing.T) {
		op := &identity.Operator{ID: kernel.NewID(), Email: "ops@x.test", PasswordHash: "x", CreatedAt: time.Now()}
		require.NoError(t, postgres.NewOperatorStore(e.pool).Create(ctx, op))
		disable := func() {
			_, err := e.pool.Exec(ctx, "UPDATE atrium.operators SET disabled = true, tokens_valid_after = now() WHERE id = $1", op.ID)
			require.NoError(t, err)
		}
		testRefreshStore(t, postgres.NewOperatorRefreshStore(e.pool), op.ID, func(fn func(context.Context) error) error { return fn(ctx) }, disable)
	})
	t.Run("tenant users", func(t *testing.T) {
		tn, err := e.svc.Create(ctx, tenancy.CreateInput{Slug: "acme", Name: "Acme", AdminEmail: "admin@acme.test", AdminPassword: "x"})
		require.NoError(t, err)
		inTenant := func(fn func(context.Context) error) error { return e.uow.InTenant(ctx, tn.Scope(), fn) }
		var admin uuid.UUID
		require.NoError(t, inTenant(func(ctx context.Context) error {
			u, err := postgres.UserStore{}.ByEmail(ctx, "admin@acme.test")
			if err == nil {
				admin = u.ID
			}
			return err
		}))
		disable := func() {
			require.NoError(t, inTenant(func(ctx context.Context) error {
				tx, err := postgres.TxFrom(ctx)
				if err == nil {
					_, err = tx.Exec(ctx, "UPDATE users SET status = 'disabled', tokens_valid_after = now() WHERE id = $1", admin)
				}
				return err
			}))
		}
		testRefreshStore(t, postgres.UserRefreshStore{}, admin, inTenant, disable)

		_, err = postgres.UserRefreshStore{}.Standing(ctx, admin, uuid.Nil)
		assert.Error(t, err, "tenant data is reached only inside a unit of work")
	})
}

func testRefreshStore(t *testing.T, s identity.RefreshStore, subject uuid.UUID, run func(func(context.Context) error) error, disable func()) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	token := func(name string, issued time.Time) identity.RefreshToken {
		h := sha256.Sum256([]byte(name))
		return identity.RefreshToken{Hash: h[:], IssuedAt: issued, ExpiresAt: issued.Add(time.Hour)}
	}
	start := func(created time.Time, first identity.RefreshToken) identity.Family {
		f := identity.Family{ID: kernel.NewID(), Subject: subject, CreatedAt: created, ExpiresAt: first.ExpiresAt}
		require.NoError(t, run(func(ctx context.Context) error { return s.Start(ctx, f, first) }))
		return f
	}
	use := func(hash []byte, next identity.RefreshToken) (found identity.Found, err error) {
		err = run(func(ctx context.Context) error { found, err = s.Use(ctx, hash, next); return err })
		return found, err
	}
	standing := func(family uuid.UUID) (st identity.Standing, err error) {
		err = run(func(ctx context.Context) error { st, err = s.Standing(ctx, subject, family); return err })
		return st, err
	}

	t1, t2, t3 := token("t1", now), token("t2", now.Add(time.Minute)), token("t3", now.Add(2*time.Minute))
	fam := start(now, t1)
	st, err := standing(fam.ID)
	require.NoError(t, err)
	assert.Equal(t, identity.Standing{Email: st.Email, Active: true}, st, "active, never revoked")

	found, err := use(t1.Hash, t2)
	require.NoError(t, err)
	assert.True(t, found.Rotated)
	assert.Equal(t, fam.ID, found.Family.ID)
	assert.Equal(t, subject, found.Family.Subject)
	assert.True(t, found.Family.CreatedAt.Equal(now))

	found, err = use(t1.Hash, t3)
	require.NoError(t, err)
	assert.False(t, found.Rotated, "a spent token does not rotate again")
	assert.False(t, found.SpentAt.IsZero(), "and says it was spent: a reuse")
	_, err = use(t3.Hash, token("t4", now))
	assert.ErrorIs(t, err, kernel.ErrNotFound, "the reuse added nothing")

	require.NoError(t, run(func(ctx context.Context) error { return s.Revoke(ctx, fam.ID, now, "reuse") }))
	found, err = use(t2.Hash, token("t5", now))
	require.NoError(t, err)
	assert.False(t, found.Rotated, "the newest token of a revoked family is dead too")
	assert.True(t, found.Family.Revoked)
	st, err = standing(fam.ID)
	require.NoError(t, err)
	assert.True(t, st.FamilyRevoked)

	// An expired token does not rotate; its family is not revoked for it.
	old := token("old", now.Add(-2*time.Hour))
	start(now.Add(-2*time.Hour), old)
	found, err = use(old.Hash, token("t6", now))
	require.NoError(t, err)
	assert.False(t, found.Rotated)
	assert.True(t, found.SpentAt.IsZero())
	assert.False(t, found.Family.Revoked)

	// Signing in again drops the subject's expired families.
	fresh := start(now, token("t7", now))
	_, err = use(old.Hash, token("t8", now))
	assert.ErrorIs(t, err, kernel.ErrNotFound)

	_, err = use([]byte("unknown-unknown-unknown-unknown!"), token("t9", now))
	assert.ErrorIs(t, err, kernel.ErrNotFound)
	st, err = standing(kernel.NewID())
	require.NoError(t, err)
	assert.True(t, st.FamilyRevoked, "an unknown family counts as revoked")
	err = run(func(ctx context.Context) error { _, err := s.Standing(ctx, kernel.NewID(), fresh.ID); return err })
	assert.ErrorIs(t, err, kernel.ErrNotFound, "an unknown subject")

	disable()
	st, err = standing(fresh.ID)
	require.NoError(t, err)
	assert.False(t, st.Active)
	assert.False(t, st.FamilyRevoked)
	assert.WithinDuration(t, time.Now(), st.ValidAfter, time.Minute)
}

// The whole operator path over the real stores: sign-in, refresh, and the
// per-request check that ends a disabled operator's tokens.
func TestDisabledOperatorsTokensStopWorking(t *testing.T) {
	e := newEnv(t, 10)
	ctx := context.Background()
	tokens := identity.NewTokens(postgres.NewKeyStore(e.pool), identity.TokenOptions{Issuer: "atrium", TTL: time.Minute, Clock: kernel.SystemClock{}})
	in := identity.SignIn{
		Passwords: identity.NewPasswords(10, 2), Tokens: tokens, RefreshTTL: time.Hour, Clock: kernel.SystemClock{},
		Limiter: identity.NewMemoryLimiter(10, time.Minute, kernel.SystemClock{}), Log: slog.New(slog.DiscardHandler),
	}
	refresh := postgres.NewOperatorRefreshStore(e.pool)
	ops := identity.NewOperators(postgres.NewOperatorStore(e.pool), refresh, in)
	auth := identity.NewAuthenticator(tokens, nil, postgres.UserRefreshStore{}, refresh)
	_, err := ops.Bootstrap(ctx, "ops@x.test", "operator password")
	require.NoError(t, err)

	pair, err := ops.Login(ctx, "ops@x.test", "operator password")
	require.NoError(t, err)
	_, err = auth.Operator(ctx, pair.AccessToken)
	require.NoError(t, err)
	next, err := ops.Refresh(ctx, pair.RefreshToken)
	require.NoError(t, err)

	_, err = e.pool.Exec(ctx, "UPDATE atrium.operators SET disabled = true")
	require.NoError(t, err)
	_, err = auth.Operator(ctx, next.AccessToken)
	assert.ErrorIs(t, err, kernel.ErrUnauthenticated)
	_, err = ops.Refresh(ctx, next.RefreshToken)
	assert.ErrorIs(t, err, kernel.ErrUnauthenticated)
	_, err = ops.Login(ctx, "ops@x.test", "operator password")
	assert.ErrorIs(t, err, kernel.ErrUnauthenticated)

	// Enabled again, the refresh token stays dead: its family was revoked
	// when it was refused.
	_, err = e.pool.Exec(ctx, "UPDATE atrium.operators SET disabled = false")
	require.NoError(t, err)
	_, err = ops.Refresh(ctx, next.RefreshToken)
	assert.ErrorIs(t, err, kernel.ErrUnauthenticated)
}
