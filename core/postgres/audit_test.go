package postgres_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/tenancy"
)

type auditEnv struct {
	*env
	store  *postgres.AuditStore
	sealer *audit.Sealer
	cps    *audit.Checkpoints
	log    *audit.Log
	cpMem  *memCheckpoints
}

func newAuditEnv(t *testing.T, maxConns int32) *auditEnv {
	e := newEnv(t, maxConns)
	store := postgres.NewAuditStore(e.pool)
	discard := slog.New(slog.DiscardHandler)
	sealer := audit.NewSealer(audit.SealerOptions{Store: store, Tenants: e.store.Scopes, Logger: discard})
	mem := newMemCheckpoints()
	cps := audit.NewCheckpoints(mem, newTestSigner(), store, e.uow, kernel.SystemClock{})
	log := audit.NewLog(audit.LogOptions{Store: store, UnitOfWork: e.uow, Clock: kernel.SystemClock{}, Sealer: sealer,
		Checkpoints: cps, Logger: discard, Secret: func(context.Context) ([]byte, error) { return make([]byte, 32), nil }})
	return &auditEnv{env: e, store: store, sealer: sealer, cps: cps, log: log, cpMem: mem}
}

// write records n successes in one tenant, each in its own unit of work.
func (e *auditEnv) write(t *testing.T, tn *tenancy.Tenant, n int) {
	t.Helper()
	for i := range n {
		err := e.uow.InTenant(context.Background(), tn.Scope(), func(ctx context.Context) error {
			return e.log.Record(ctx, audit.Entry{Action: "test.thing.update", Outcome: audit.Success,
				Resource: audit.Resource{Type: "thing", ID: fmt.Sprint(i)}, Details: map[string]any{"n": i},
				Actor: &audit.Actor{Type: audit.ActorUser, ID: "u1", Email: "u1@x.test"}})
		})
		require.NoError(t, err)
	}
}

func (e *auditEnv) verify(t *testing.T, tn *tenancy.Tenant) audit.Verification {
	t.Helper()
	v, err := e.log.Verify(context.Background(), tn.Scope())
	require.NoError(t, err)
	return v
}

// asSuperuser runs sql on a connection of the pool's own user with the
// tenant's schema on the search path and triggers off, as an intruder with
// superuser rights would.
func (e *auditEnv) asSuperuser(t *testing.T, tn *tenancy.Tenant, sql string, args ...any) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), "SET LOCAL session_replication_role = replica; SET LOCAL search_path TO "+
			pgx.Identifier{tn.Schema}.Sanitize())
		if err != nil {
			return err
		}
		_, err = tx.Exec(context.Background(), sql, args...)
		return err
	})
	require.NoError(t, err)
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestTenantRoleCanOnlyInsertAndReadAuditRecords(t *testing.T) {
	e := newAuditEnv(t, 4)
	tn := e.create(t, "acme")
	e.write(t, tn, 2)
	require.NoError(t, e.log.Seal(context.Background(), tn.Scope()))

	for name, sql := range map[string]string{
		"update":        "UPDATE audit_log SET action = 'forged'",
		"delete":        "DELETE FROM audit_log",
		"truncate":      "TRUNCATE audit_log",
		"choose the id": "INSERT INTO audit_log (id, at, actor_type, action, outcome) OVERRIDING SYSTEM VALUE VALUES (99, now(), 'user', 'x', 'success')",
		"write chain":   "INSERT INTO audit_chain VALUES (99, 1, '\\x00', '\\x00')",
		"edit chain":    "UPDATE audit_chain SET hash = '\\x00'",
		"drop queue":    "DELETE FROM audit_pending",
		"move the head": "UPDATE audit_head SET seq = 0",
		"disable":       "ALTER TABLE audit_log DISABLE TRIGGER USER",
		"grant itself":  "GRANT UPDATE ON audit_log TO CURRENT_USER; UPDATE audit_log SET action = 'forged'",
	} {
		t.Run(name, func(t *testing.T) {
			err := e.uow.InTenant(context.Background(), tn.Scope(), func(ctx context.Context) error {
				tx, err := postgres.TxFrom(ctx)
				require.NoError(t, err)
				_, err = tx.Exec(ctx, sql)
				return err
			})
			require.Error(t, err)
			assert.Contains(t, []string{"42501", "42883"}, pgCode(err), "refused for lack of privilege: %v", err)
		})
	}
	assert.True(t, e.verify(t, tn).OK, "nothing was changed")
}

func TestAuditTriggersHoldForTheTablesOwner(t *testing.T) {
	e := newAuditEnv(t, 4)
	tn := e.create(t, "acme")
	e.write(t, tn, 2)
	require.NoError(t, e.log.Seal(context.Background(), tn.Scope()))
	ctx := context.Background()
	table := func(name string) string { return pgx.Identifier{tn.Schema, name}.Sanitize() }
	for _, sql := range []string{
		"UPDATE " + table("audit_log") + " SET action = 'forged'",
		"DELETE FROM " + table("audit_log"),
		"TRUNCATE " + table("audit_log"),
		"UPDATE " + table("audit_chain") + " SET seq = seq + 10",
		"DELETE FROM " + table("audit_chain"),
		"TRUNCATE " + table("audit_chain"),
		"DELETE FROM " + table("audit_head"),
		"UPDATE " + table("audit_head") + " SET seq = 1",
	} {
		_, err := e.pool.Exec(ctx, sql)
		require.Error(t, err, sql)
		assert.ErrorContains(t, err, "audit", sql)
	}
}

// 100 writers on one tenant, the sealer running meanwhile: one chain, no
// gaps, no fork.
func TestConcurrentWritersBuildOneUnbrokenChain(t *testing.T) {
	e := newAuditEnv(t, 20)
	tn := e.create(t, "busy")
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { e.sealer.Run(ctx) })
	const writers, each = 100, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				err := e.uow.InTenant(ctx, tn.Scope(), func(ctx context.Context) error {
					return e.log.Record(ctx, audit.Entry{Action: "test.thing.create", Outcome: audit.Success,
						Details: map[string]any{"writer": w, "i": i}})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	cancel()
	running.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	v := e.verify(t, tn)
	assert.True(t, v.OK, v.Problem)
	assert.EqualValues(t, writers*each, v.RecordsChecked)
	assert.Zero(t, v.Unsealed)
}

func TestTamperingIsDetected(t *testing.T) {
	e := newAuditEnv(t, 4)
	cases := []struct {
		name   string
		sql    string
		broken int64
	}{
		{"edit", "UPDATE audit_log SET action = 'test.thing.read' WHERE id = " + recordAt(4), 4},
		{"edit details", `UPDATE audit_log SET details = '{"n": 99}' WHERE id = ` + recordAt(2), 2},
		{"delete a record", "DELETE FROM audit_log WHERE id = " + recordAt(5), 5},
		{"delete a chain entry", "DELETE FROM audit_chain WHERE seq = 5", 5},
		{"delete the newest", "DELETE FROM audit_log WHERE id = " + recordAt(8) + "; DELETE FROM audit_chain WHERE seq = 8", 8},
		{"reorder", "UPDATE audit_chain SET record_id = -record_id WHERE seq IN (3, 6); " +
			"UPDATE audit_chain c SET record_id = -(SELECT record_id FROM audit_chain WHERE seq = 9 - c.seq) WHERE seq IN (3, 6)", 3},
		{"forge a hash", "UPDATE audit_chain SET hash = sha256(hash) WHERE seq = 7", 7},
		{"drop a record before it is sealed", "unsealed", 9},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn := e.create(t, fmt.Sprintf("tamper-%d", i))
			e.write(t, tn, 8)
			v := e.verify(t, tn)
			require.True(t, v.OK, v.Problem)
			require.EqualValues(t, 8, v.RecordsChecked)

			if c.sql == "unsealed" { // a ninth record, taken out of the queue before the sealer saw it
				e.writeUnsealed(t, tn)
				e.asSuperuser(t, tn, "DELETE FROM audit_pending")
			} else {
				e.asSuperuser(t, tn, c.sql)
			}
			v = e.verify(t, tn)
			assert.False(t, v.OK)
			assert.Equal(t, c.broken, v.FirstBrokenSeq, v.Problem)
		})
	}
}

// A chain rewritten consistently from some record on, or cut short with its
// head moved back, is consistent in itself: a signed checkpoint exposes it.
func TestCheckpointsExposeARewrittenOrTruncatedChain(t *testing.T) {
	e := newAuditEnv(t, 4)
	ctx := context.Background()

	t.Run("rewrite", func(t *testing.T) {
		tn := e.create(t, "rewritten")
		e.write(t, tn, 6)
		require.NoError(t, e.log.Seal(ctx, tn.Scope()))
		cp, err := e.cps.Write(ctx, tn.Scope())
		require.NoError(t, err)
		require.EqualValues(t, 6, cp.Seq)

		e.rewriteFrom(t, tn, 3, "UPDATE audit_log SET action = 'test.thing.read' WHERE id = "+recordAt(3))
		v := e.verify(t, tn)
		assert.False(t, v.OK)
		assert.EqualValues(t, 6, v.FirstBrokenSeq, v.Problem)
		assert.Contains(t, v.Problem, "checkpoint")
	})
	t.Run("truncate", func(t *testing.T) {
		tn := e.create(t, "truncated")
		e.write(t, tn, 6)
		require.NoError(t, e.log.Seal(ctx, tn.Scope()))
		_, err := e.cps.Write(ctx, tn.Scope())
		require.NoError(t, err)

		e.asSuperuser(t, tn, "DELETE FROM audit_log WHERE id IN (SELECT record_id FROM audit_chain WHERE seq >= 5); "+
			"DELETE FROM audit_chain WHERE seq >= 5; UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_chain WHERE seq = 4)")
		v := e.verify(t, tn)
		assert.False(t, v.OK)
		assert.EqualValues(t, 5, v.FirstBrokenSeq, v.Problem)
	})
	t.Run("forged checkpoint", func(t *testing.T) {
		tn := e.create(t, "forged")
		e.write(t, tn, 2)
		require.NoError(t, e.log.Seal(ctx, tn.Scope()))
		_, err := e.cps.Write(ctx, tn.Scope())
		require.NoError(t, err)
		mem := e.cpStore()
		for k, v := range mem.objects {
			mem.objects[k] = strings.Replace(v, "a", "b", 1)
		}
		_, err = e.log.Verify(ctx, tn.Scope())
		require.Error(t, err)
		assert.ErrorContains(t, err, "not genuine")
	})
}

// recordAt is SQL for the id of the record at position seq of the chain.
func recordAt(seq int) string {
	return fmt.Sprintf("(SELECT record_id FROM audit_chain WHERE seq = %d)", seq)
}

// writeUnsealed writes a record while no sealer runs.
func (e *auditEnv) writeUnsealed(t *testing.T, tn *tenancy.Tenant) {
	t.Helper()
	quiet := audit.NewLog(audit.LogOptions{Store: e.store, UnitOfWork: e.uow, Clock: kernel.SystemClock{},
		Sealer: audit.NewSealer(audit.SealerOptions{Store: e.store, Logger: slog.New(slog.DiscardHandler)}),
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, e.uow.InTenant(context.Background(), tn.Scope(), func(ctx context.Context) error {
		return quiet.Record(ctx, audit.Entry{Action: "test.thing.delete", Outcome: audit.Success})
	}))
}

// rewriteFrom tampers with sql, then recomputes every hash from seq on and
// moves the head, as an intruder who knows the hashing would.
func (e *auditEnv) rewriteFrom(t *testing.T, tn *tenancy.Tenant, seq int64, sql string) {
	t.Helper()
	e.asSuperuser(t, tn, sql)
	var recs []*audit.Record
	var prev audit.Head
	err := e.uow.InTenant(context.Background(), tn.Scope(), func(ctx context.Context) error {
		all, err := e.store.Chain(ctx, 0, 1000)
		for _, r := range all {
			if r.Seq < seq {
				prev = audit.Head{Seq: r.Seq, Hash: r.Hash}
			} else {
				recs = append(recs, r)
			}
		}
		return err
	})
	require.NoError(t, err)
	slices.SortFunc(recs, func(a, b *audit.Record) int { return int(a.Seq - b.Seq) })
	head := audit.Seal(prev, recs)
	e.asSuperuser(t, tn, "DELETE FROM audit_chain WHERE seq >= $1", seq)
	for _, r := range recs {
		e.asSuperuser(t, tn, "INSERT INTO audit_chain (seq, record_id, prev_hash, hash) VALUES ($1, $2, $3, $4)", r.Seq, r.ID, r.PrevHash, r.Hash)
	}
	e.asSuperuser(t, tn, "UPDATE audit_head SET seq = $1, hash = $2", head.Seq, head.Hash)
}

func (e *auditEnv) cpStore() *memCheckpoints { return e.cpMem }

// memCheckpoints is a CheckpointStore in memory (the blob store's contract
// is tested in core/blob).
type memCheckpoints struct {
	mu      sync.Mutex
	objects map[string]string
}

func newMemCheckpoints() *memCheckpoints { return &memCheckpoints{objects: map[string]string{}} }

func (m *memCheckpoints) Put(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = string(data)
	return nil
}

func (m *memCheckpoints) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.objects[key]
	if !ok {
		return nil, kernel.NotFound("checkpoint")
	}
	return []byte(v), nil
}

func (m *memCheckpoints) List(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// testSigner signs statements with an Ed25519 key (identity.Tokens signs
// them as JWTs; its own tests cover that).
type testSigner struct{ key ed25519.PrivateKey }

func newTestSigner() *testSigner {
	_, key, _ := ed25519.GenerateKey(nil)
	return &testSigner{key: key}
}

func (s *testSigner) SignStatement(_ context.Context, typ string, claims map[string]any) (string, error) {
	body, err := json.Marshal(map[string]any{"typ": typ, "claims": claims})
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(s.key, body)), nil
}

func (s *testSigner) VerifyStatement(_ context.Context, typ, token string) (map[string]any, error) {
	b64, sig64, _ := strings.Cut(token, ".")
	body, err1 := base64.RawURLEncoding.DecodeString(b64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil || !ed25519.Verify(s.key.Public().(ed25519.PublicKey), body, sig) {
		return nil, errors.New("bad signature")
	}
	var st struct {
		Typ    string         `json:"typ"`
		Claims map[string]any `json:"claims"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.Typ != typ {
		return nil, errors.New("not a statement of this type")
	}
	return st.Claims, nil
}
