package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

// AuditStore keeps tenants' audit logs in their schemas (migration
// 000005_audit). Records are written and read in the unit of work, as the
// tenant role; sealing runs as the pool's own user, the tables' owner.
type AuditStore struct {
	pool *pgxpool.Pool
}

var _ audit.Store = (*AuditStore)(nil)

// NewAuditStore returns the audit store.
func NewAuditStore(pool *pgxpool.Pool) *AuditStore { return &AuditStore{pool: pool} }

const auditColumns = `id, coalesce(seq, 0), at, actor_type, actor_id, actor_email, action, resource_type, resource_id,
	outcome, reasons, policy_version, request_id, ip, user_agent, details, coalesce(prev_hash, ''), coalesce(hash, '')`

func scanRecord(row pgx.Row) (*audit.Record, error) {
	var r audit.Record
	err := row.Scan(&r.ID, &r.Seq, &r.At, &r.Actor.Type, &r.Actor.ID, &r.Actor.Email, &r.Action, &r.Resource.Type,
		&r.Resource.ID, &r.Outcome, &r.Reasons, &r.PolicyVersion, &r.RequestID, &r.IP, &r.UserAgent, &r.Details,
		&r.PrevHash, &r.Hash)
	if len(r.PrevHash) == 0 {
		r.PrevHash = nil
	}
	if len(r.Hash) == 0 {
		r.Hash = nil
	}
	return &r, err
}

// Append inserts r unsealed.
func (*AuditStore) Append(ctx context.Context, r *audit.Record) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	return tx.QueryRow(ctx, `INSERT INTO audit_log (at, actor_type, actor_id, actor_email, action, resource_type,
		resource_id, outcome, reasons, policy_version, request_id, ip, user_agent, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
		r.At, r.Actor.Type, r.Actor.ID, r.Actor.Email, r.Action, r.Resource.Type, r.Resource.ID, string(r.Outcome),
		r.Reasons, r.PolicyVersion, r.RequestID, r.IP, r.UserAgent, string(r.Details)).Scan(&r.ID)
}

// Seal seals up to max pending records of t. Table names are qualified by
// schema, so each tenant's statements are prepared and cached apart.
func (s *AuditStore) Seal(ctx context.Context, t *kernel.Tenant, limit int, seal func(audit.Head, []*audit.Record) audit.Head) (int, error) {
	logTable := pgx.Identifier{t.Schema, "audit_log"}.Sanitize()
	headTable := pgx.Identifier{t.Schema, "audit_head"}.Sanitize()
	var pending bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+logTable+" WHERE seq IS NULL)").Scan(&pending)
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
		head, err := lockHead(ctx, tx, headTable)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT "+auditColumns+" FROM "+logTable+" WHERE seq IS NULL ORDER BY id LIMIT $1", limit)
		if err != nil {
			return err
		}
		pending, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*audit.Record, error) { return scanRecord(r) })
		if err != nil || len(pending) == 0 {
			return err
		}
		head = seal(head, pending)
		ids, seqs := make([]int64, len(pending)), make([]int64, len(pending))
		prevs, hashes := make([][]byte, len(pending)), make([][]byte, len(pending))
		for i, r := range pending {
			ids[i], seqs[i], prevs[i], hashes[i] = r.ID, r.Seq, r.PrevHash, r.Hash
		}
		_, err = tx.Exec(ctx, "UPDATE "+logTable+` AS a SET seq = u.seq, prev_hash = u.prev, hash = u.hash
			FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS u (id, seq, prev, hash) WHERE a.id = u.id`,
			ids, seqs, prevs, hashes)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE "+headTable+" SET seq = $1, hash = $2", head.Seq, head.Hash)
		n = len(pending)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("seal audit records of %s: %w", t.Slug, err)
	}
	return n, nil
}

// lockAudit takes the audit tables' locks, in the sealer's order (head,
// then log), before their schema is dropped: DROP SCHEMA locks objects in
// an order of its own and could otherwise deadlock with a sealing pass.
func lockAudit(ctx context.Context, tx pgx.Tx, schema string) error {
	head, log := pgx.Identifier{schema, "audit_head"}.Sanitize(), pgx.Identifier{schema, "audit_log"}.Sanitize()
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", head).Scan(&exists); err != nil || !exists {
		return err
	}
	_, err := tx.Exec(ctx, "LOCK TABLE "+head+", "+log+" IN ACCESS EXCLUSIVE MODE")
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

// List reads a page of records.
func (*AuditStore) List(ctx context.Context, q spec.Spec, since, until time.Time) ([]*audit.Record, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	c, err := SpecSQL(q, audit.Fields, "", 0)
	if err != nil {
		return nil, err
	}
	where, args := c.Where, c.Args
	if !since.IsZero() {
		args = append(args, since)
		where += " AND at >= $" + strconv.Itoa(len(args))
	}
	if !until.IsZero() {
		args = append(args, until)
		where += " AND at < $" + strconv.Itoa(len(args))
	}
	rows, err := tx.Query(ctx, "SELECT "+auditColumns+" FROM audit_log WHERE "+where+" "+c.OrderLimit, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*audit.Record, error) { return scanRecord(r) })
}

// Chain reads sealed records after seq, in chain order.
func (*AuditStore) Chain(ctx context.Context, after int64, limit int) ([]*audit.Record, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT "+auditColumns+" FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*audit.Record, error) { return scanRecord(r) })
}

// Head reads the chain head and counts the unsealed records.
func (*AuditStore) Head(ctx context.Context) (audit.Head, int64, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return audit.Head{}, 0, err
	}
	var h audit.Head
	var unsealed int64
	err = tx.QueryRow(ctx, `SELECT coalesce((SELECT seq FROM audit_head), 0), coalesce((SELECT hash FROM audit_head), ''),
		(SELECT count(*) FROM audit_log WHERE seq IS NULL)`).Scan(&h.Seq, &h.Hash, &unsealed)
	return h, unsealed, err
}
