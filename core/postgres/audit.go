package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

// AuditStore keeps tenants' audit logs in their schemas (migration
// 000005_audit): records in audit_log, the sealer's queue in audit_pending,
// the hash chain in audit_chain and its head in audit_head. Records are
// read in the unit of work, as the tenant role, and written there through
// audit_append (migration 000007), which takes only records signed with the
// tenant's audit key: neither the tenant role nor a plugin's may insert one
// of their own. Sealing runs as the pool's own user, the tables' owner.
type AuditStore struct {
	pool *pgxpool.Pool
	keys *Keys

	mu      sync.RWMutex
	tenants map[string][]byte // schema -> audit key
}

var _ audit.Store = (*AuditStore)(nil)

// NewAuditStore returns the audit store.
func NewAuditStore(pool *pgxpool.Pool) *AuditStore {
	return &AuditStore{pool: pool, keys: NewKeys(pool), tenants: map[string][]byte{}}
}

// chainedColumns read a record with its place in the chain, from audit_log
// l LEFT JOIN audit_chain c (or the other way round: a chain entry whose
// record is gone reads as an empty record, which its hash exposes).
const chainedColumns = `coalesce(l.id, c.record_id), coalesce(l.at, 'epoch'), coalesce(l.actor_type, ''),
	coalesce(l.actor_id, ''), coalesce(l.actor_email, ''), coalesce(l.action, ''), coalesce(l.resource_type, ''),
	coalesce(l.resource_id, ''), coalesce(l.outcome, ''), coalesce(l.reasons, '{}'), coalesce(l.policy_version, ''),
	coalesce(l.request_id, ''), coalesce(l.ip, ''), coalesce(l.user_agent, ''), coalesce(l.details::text, ''),
	coalesce(c.seq, 0), c.prev_hash, c.hash`

func scanChained(row pgx.Row) (*audit.Record, error) {
	var r audit.Record
	var details string
	err := row.Scan(&r.ID, &r.At, &r.Actor.Type, &r.Actor.ID, &r.Actor.Email, &r.Action, &r.Resource.Type,
		&r.Resource.ID, &r.Outcome, &r.Reasons, &r.PolicyVersion, &r.RequestID, &r.IP, &r.UserAgent, &details,
		&r.Seq, &r.PrevHash, &r.Hash)
	r.Details = []byte(details)
	return &r, err
}

// insertRecordSQL writes a record into the log table and queues it for
// the sealer, in one statement.
func insertRecordSQL(log, pending string) string {
	return `WITH r AS (
	INSERT INTO ` + log + ` (at, actor_type, actor_id, actor_email, action, resource_type, resource_id, outcome,
		reasons, policy_version, request_id, ip, user_agent, details)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id)
INSERT INTO ` + pending + ` (record_id) SELECT id FROM r`
}

func recordArgs(r *audit.Record) []any {
	return []any{r.At, r.Actor.Type, r.Actor.ID, r.Actor.Email, r.Action, r.Resource.Type, r.Resource.ID,
		string(r.Outcome), r.Reasons, r.PolicyVersion, r.RequestID, r.IP, r.UserAgent, string(r.Details)}
}

// appendRecord is how a unit of work writes a record: audit_append checks
// the MAC and inserts the record and its place in the sealer's queue.
const appendRecord = "SELECT audit_append($1, $2)"

// signedRecord is a record as audit_append reads it.
type signedRecord struct {
	At            time.Time       `json:"at"`
	ActorType     string          `json:"actor_type"`
	ActorID       string          `json:"actor_id"`
	ActorEmail    string          `json:"actor_email"`
	Action        string          `json:"action"`
	ResourceType  string          `json:"resource_type"`
	ResourceID    string          `json:"resource_id"`
	Outcome       string          `json:"outcome"`
	Reasons       []string        `json:"reasons"`
	PolicyVersion string          `json:"policy_version"`
	RequestID     string          `json:"request_id"`
	IP            string          `json:"ip"`
	UserAgent     string          `json:"user_agent"`
	Details       json.RawMessage `json:"details"`
}

// Append queues r's insert to travel with the unit of work's COMMIT, so an
// audited mutation costs no round trip more than an unaudited one. If the
// insert fails, the commit fails with fail's error and everything rolls
// back.
func (s *AuditStore) Append(ctx context.Context, r *audit.Record, fail func(error) error) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	key, err := s.key(ctx, tx.tenant.Schema)
	if err != nil {
		return fail(err)
	}
	details := json.RawMessage(r.Details)
	if len(details) == 0 {
		details = json.RawMessage("{}")
	}
	record, err := json.Marshal(signedRecord{At: r.At, ActorType: r.Actor.Type, ActorID: r.Actor.ID,
		ActorEmail: r.Actor.Email, Action: r.Action, ResourceType: r.Resource.Type, ResourceID: r.Resource.ID,
		Outcome: string(r.Outcome), Reasons: orNone(r.Reasons), PolicyVersion: r.PolicyVersion, RequestID: r.RequestID,
		IP: r.IP, UserAgent: r.UserAgent, Details: details})
	if err != nil {
		return fail(fmt.Errorf("encode audit record: %w", err))
	}
	tx.deferUntilCommit(appendRecord, []any{string(record), signRecord(key, record)}, fail)
	return nil
}

func orNone(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// key is the tenant's audit key, derived once per schema.
func (s *AuditStore) key(ctx context.Context, schema string) ([]byte, error) {
	s.mu.RLock()
	key, ok := s.tenants[schema]
	s.mu.RUnlock()
	if ok {
		return key, nil
	}
	key, err := s.keys.AuditKey(ctx, nil, schema)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.tenants[schema] = key
	s.mu.Unlock()
	return key, nil
}

// AppendTo writes r into schema's log from a transaction of the platform's
// own (an operator's change to the tenant), as the tables' owner.
func (*AuditStore) AppendTo(ctx context.Context, tx pgx.Tx, schema string, r *audit.Record) error {
	sql := insertRecordSQL(pgx.Identifier{schema, "audit_log"}.Sanitize(), pgx.Identifier{schema, "audit_pending"}.Sanitize())
	_, err := tx.Exec(ctx, sql, recordArgs(r)...)
	return err
}

// AuditTenantChanges has the tenant store write an operator's change to a
// tenant (create, update, restore) and its audit record in one transaction.
func AuditTenantChanges(ts *TenantStore, log *audit.Log, records *AuditStore) {
	ts.RecordChanges(func(ctx context.Context, tx pgx.Tx, t *kernel.Tenant) error {
		return log.RecordChange(ctx, func(r *audit.Record) error { return records.AppendTo(ctx, tx, t.Schema, r) })
	})
}

// Seal seals up to limit pending records of t. Table names are qualified
// by schema, so each tenant's statements are prepared and cached apart.
func (s *AuditStore) Seal(ctx context.Context, t *kernel.Tenant, limit int, seal func(audit.Head, []*audit.Record) audit.Head) (int, error) {
	table := func(name string) string { return pgx.Identifier{t.Schema, name}.Sanitize() }
	var pending bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+table("audit_pending")+")").Scan(&pending)
	if err != nil || !pending {
		return 0, err
	}
	n := 0
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Never wait long on a lock: the records stay pending and the next
		// pass seals them.
		if _, err := tx.Exec(ctx, sealLockTimeout); err != nil {
			return err
		}
		head, err := lockHead(ctx, tx, table("audit_head"))
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "DELETE FROM "+table("audit_pending")+" WHERE record_id IN (SELECT record_id FROM "+
			table("audit_pending")+" ORDER BY record_id LIMIT $1) RETURNING record_id", limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil || len(ids) == 0 {
			return err
		}
		// A queued id without a record (only a forged queue entry) is dropped.
		rows, err = tx.Query(ctx, "SELECT "+chainedColumns+" FROM "+table("audit_log")+
			" l LEFT JOIN "+table("audit_chain")+" c ON c.record_id = l.id WHERE l.id = ANY($1) AND c.seq IS NULL ORDER BY l.id", ids)
		if err != nil {
			return err
		}
		recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*audit.Record, error) { return scanChained(r) })
		if err != nil || len(recs) == 0 {
			return err
		}
		head = seal(head, recs)
		seqs, recIDs := make([]int64, len(recs)), make([]int64, len(recs))
		prevs, hashes := make([][]byte, len(recs)), make([][]byte, len(recs))
		for i, r := range recs {
			seqs[i], recIDs[i], prevs[i], hashes[i] = r.Seq, r.ID, r.PrevHash, r.Hash
		}
		_, err = tx.Exec(ctx, "INSERT INTO "+table("audit_chain")+` (seq, record_id, prev_hash, hash)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[])`, seqs, recIDs, prevs, hashes)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE "+table("audit_head")+" SET seq = $1, hash = $2", head.Seq, head.Hash)
		n = len(recs)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("seal audit records of %s: %w", t.Slug, err)
	}
	return n, nil
}

// lockAudit takes the chain head's lock before the audit tables' schema is
// dropped: DROP SCHEMA locks objects in an order of its own and could
// otherwise deadlock with a sealing pass, which locks the head first.
func lockAudit(ctx context.Context, tx pgx.Tx, schema string) error {
	head := pgx.Identifier{schema, "audit_head"}.Sanitize()
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", head).Scan(&exists); err != nil || !exists {
		return err
	}
	_, err := tx.Exec(ctx, "LOCK TABLE "+head+" IN ACCESS EXCLUSIVE MODE")
	return err
}

// sealLockTimeout is under PostgreSQL's default deadlock_timeout (1 s), so
// a sealer waiting on a lock gives up before a deadlock is declared.
const sealLockTimeout = "SET LOCAL lock_timeout = '500ms'"

// lockHead locks the chain head, creating it before the first seal.
func lockHead(ctx context.Context, tx pgx.Tx, table string) (audit.Head, error) {
	var h audit.Head
	err := tx.QueryRow(ctx, "SELECT seq, hash FROM "+table+" FOR UPDATE").Scan(&h.Seq, &h.Hash)
	if err == nil || !errors.Is(err, pgx.ErrNoRows) {
		return h, err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (seq, hash) VALUES (0, $1) ON CONFLICT DO NOTHING", audit.Genesis); err != nil {
		return h, err
	}
	err = tx.QueryRow(ctx, "SELECT seq, hash FROM "+table+" FOR UPDATE").Scan(&h.Seq, &h.Hash)
	return h, err
}

// List reads a page of records with their places in the chain.
func (*AuditStore) List(ctx context.Context, q spec.Spec, since, until time.Time) ([]*audit.Record, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	c, err := SpecSQL(q, audit.Fields, "l", 0)
	if err != nil {
		return nil, err
	}
	where, args := c.Where, c.Args
	if !since.IsZero() {
		args = append(args, since)
		where += " AND l.at >= $" + strconv.Itoa(len(args))
	}
	if !until.IsZero() {
		args = append(args, until)
		where += " AND l.at < $" + strconv.Itoa(len(args))
	}
	rows, err := tx.Query(ctx, "SELECT "+chainedColumns+" FROM audit_log l LEFT JOIN audit_chain c ON c.record_id = l.id WHERE "+
		where+" "+c.OrderLimit, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*audit.Record, error) { return scanChained(r) })
}

// Chain reads chain entries after seq, in chain order, with their records.
func (*AuditStore) Chain(ctx context.Context, after int64, limit int) ([]*audit.Record, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT "+chainedColumns+` FROM audit_chain c LEFT JOIN audit_log l ON l.id = c.record_id
		WHERE c.seq > $1 ORDER BY c.seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*audit.Record, error) { return scanChained(r) })
}

// Head reads the chain head (zero before the first seal).
func (*AuditStore) Head(ctx context.Context) (audit.Head, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return audit.Head{}, err
	}
	var h audit.Head
	err = tx.QueryRow(ctx, `SELECT coalesce((SELECT seq FROM audit_head), 0), coalesce((SELECT hash FROM audit_head), '')`).
		Scan(&h.Seq, &h.Hash)
	return h, err
}

// State reads the chain head and counts the records outside the chain.
func (*AuditStore) State(ctx context.Context) (audit.State, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return audit.State{}, err
	}
	var s audit.State
	err = tx.QueryRow(ctx, `SELECT coalesce((SELECT seq FROM audit_head), 0), coalesce((SELECT hash FROM audit_head), ''),
		(SELECT count(*) FROM audit_pending),
		(SELECT count(*) FROM audit_log l WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.record_id = l.id)
			AND NOT EXISTS (SELECT 1 FROM audit_pending p WHERE p.record_id = l.id))`).
		Scan(&s.Head.Seq, &s.Head.Hash, &s.Unsealed, &s.Orphans)
	return s, err
}
