package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/events"
	"github.com/atriumhq/atrium/core/kernel"
)

// EventStore keeps integration events in each tenant's schema (tenant
// migration 000009): the outbox, each subscriber's deliveries, the inbox and
// webhooks. Requests write the outbox and the inbox only through
// events_append and events_handled, which take records signed with the
// tenant's audit key (under prefixes of their own): neither the tenant role
// nor a plugin's may write either table. The deliverer's work runs on the
// pool's own user, the tables' owner, with schema-qualified names.
type EventStore struct {
	pool  *pgxpool.Pool
	audit *AuditStore // the tenants' audit keys
}

var _ events.Store = (*EventStore)(nil)

// EventsChannel carries "this tenant has new events" (its ID) to every
// replica's deliverer; events_append sends it, so only on commit.
const EventsChannel = "atrium_events"

// NewEventStore returns the event store.
func NewEventStore(pool *pgxpool.Pool, audit *AuditStore) *EventStore {
	return &EventStore{pool: pool, audit: audit}
}

type outgoingRecord struct {
	EventID     uuid.UUID       `json:"event_id"`
	TenantID    uuid.UUID       `json:"tenant_id"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	Payload     json.RawMessage `json:"payload"`
	RequestID   string          `json:"request_id"`
	Subscribers []string        `json:"subscribers"`
}

// Append queues the event to be written with COMMIT.
func (s *EventStore) Append(ctx context.Context, e events.Outgoing) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	subs := e.Subscribers
	if subs == nil {
		subs = []string{}
	}
	rec, err := json.Marshal(outgoingRecord{EventID: e.ID, TenantID: e.TenantID, Type: e.Type, Source: e.Source,
		Payload: e.Payload, RequestID: e.RequestID, Subscribers: subs})
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return s.signed(ctx, tx, "SELECT events_append($1, $2)", "event:", rec, "write the event to the outbox")
}

// Handled queues the inbox's record of d to be written with COMMIT.
func (s *EventStore) Handled(ctx context.Context, d events.Delivery) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	rec, err := json.Marshal(map[string]any{"subscriber": d.Subscriber, "event_id": d.EventID, "outbox_id": d.OutboxID})
	if err != nil {
		return err
	}
	return s.signed(ctx, tx, "SELECT events_handled($1, $2)", "handled:", rec, "record the handled event")
}

func (s *EventStore) signed(ctx context.Context, tx *Tx, sql, prefix string, rec []byte, what string) error {
	key, err := s.audit.key(ctx, tx.Tenant().Schema)
	if err != nil {
		return err
	}
	mac := signRecord(key, append([]byte(prefix), rec...))
	tx.deferUntilCommit(sql, []any{string(rec), mac}, func(err error) error { return fmt.Errorf("%s: %w", what, err) })
	return nil
}

func table(t *kernel.Tenant, name string) string { return pgx.Identifier{t.Schema, name}.Sanitize() }

// Ready finds the subscribers whose oldest pending delivery is due.
func (s *EventStore) Ready(ctx context.Context, t *kernel.Tenant) ([]string, time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT subscriber,
			extract(epoch FROM greatest(next_attempt_at, coalesce(leased_until, next_attempt_at)) - now())::float8
		FROM (SELECT DISTINCT ON (subscriber) subscriber, next_attempt_at, leased_until FROM `+table(t, "outbox_deliveries")+`
			WHERE status = 'pending' ORDER BY subscriber, outbox_id) heads`)
	if err != nil {
		return nil, time.Time{}, dbErr(err)
	}
	defer rows.Close()
	var ready []string
	var next time.Time
	now := time.Now()
	for rows.Next() {
		var sub string
		var secs float64
		if err := rows.Scan(&sub, &secs); err != nil {
			return nil, time.Time{}, err
		}
		wait := time.Duration(secs * float64(time.Second))
		if wait <= 0 {
			ready = append(ready, sub)
			continue
		}
		if at := now.Add(wait); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return ready, next, dbErr(rows.Err())
}

// Claim leases the due prefix of the subscriber's pending deliveries.
func (s *EventStore) Claim(ctx context.Context, t *kernel.Tenant, subscriber string, n int, lease time.Duration) ([]events.Delivery, error) {
	var out []events.Delivery
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var got bool
		// One replica claims for a subscriber at a time; the others move on.
		err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock(hashtext('atrium-deliver'), hashtext($1))",
			t.Schema+":"+subscriber).Scan(&got)
		if err != nil || !got {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT d.outbox_id, o.event_id, o.type, o.source, o.payload, o.occurred_at, d.attempts,
				d.next_attempt_at <= now() AND (d.leased_until IS NULL OR d.leased_until <= now())
			FROM `+table(t, "outbox_deliveries")+` d JOIN `+table(t, "outbox")+` o ON o.id = d.outbox_id
			WHERE d.subscriber = $1 AND d.status = 'pending' ORDER BY d.outbox_id LIMIT $2 FOR UPDATE OF d`, subscriber, n)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			d := events.Delivery{Subscriber: subscriber}
			var ready bool
			if err := rows.Scan(&d.OutboxID, &d.EventID, &d.Type, &d.Source, &d.Payload, &d.OccurredAt, &d.Attempts, &ready); err != nil {
				rows.Close()
				return err
			}
			if !ready { // only the due prefix, in order
				break
			}
			out = append(out, d)
			ids = append(ids, d.OutboxID)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, "UPDATE "+table(t, "outbox_deliveries")+" SET leased_until = now() + make_interval(secs => $3) "+
			"WHERE subscriber = $1 AND outbox_id = ANY ($2)", subscriber, ids, lease.Seconds())
		return err
	})
	if err != nil {
		return nil, dbErr(err)
	}
	return out, nil
}

// InInbox tells whether the subscriber handled the event.
func (s *EventStore) InInbox(ctx context.Context, t *kernel.Tenant, d events.Delivery) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+table(t, "inbox")+" WHERE subscriber = $1 AND event_id = $2)",
		d.Subscriber, d.EventID).Scan(&ok)
	return ok, dbErr(err)
}

// Delivered marks the delivery done.
func (s *EventStore) Delivered(ctx context.Context, t *kernel.Tenant, d events.Delivery) error {
	_, err := s.pool.Exec(ctx, "UPDATE "+table(t, "outbox_deliveries")+` SET status = 'delivered', delivered_at = now(),
		leased_until = NULL, attempts = attempts + 1, last_error = '' WHERE subscriber = $1 AND outbox_id = $2 AND status = 'pending'`,
		d.Subscriber, d.OutboxID)
	return dbErr(err)
}

// Failed records a failed attempt.
func (s *EventStore) Failed(ctx context.Context, t *kernel.Tenant, d events.Delivery, counted bool, next time.Time, park bool, msg string) error {
	inc := 0
	if counted {
		inc = 1
	}
	status := events.StatusPending
	if park {
		status = events.StatusFailed
	}
	_, err := s.pool.Exec(ctx, "UPDATE "+table(t, "outbox_deliveries")+` SET attempts = attempts + $3, next_attempt_at = $4,
		leased_until = NULL, last_error = $5, status = $6 WHERE subscriber = $1 AND outbox_id = $2 AND status = 'pending'`,
		d.Subscriber, d.OutboxID, inc, next, msg, status)
	return dbErr(err)
}

// Release drops the leases of deliveries not attempted.
func (s *EventStore) Release(ctx context.Context, t *kernel.Tenant, ds []events.Delivery) error {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.OutboxID
	}
	_, err := s.pool.Exec(ctx, "UPDATE "+table(t, "outbox_deliveries")+
		" SET leased_until = NULL WHERE subscriber = $1 AND outbox_id = ANY ($2) AND status = 'pending'", ds[0].Subscriber, ids)
	return dbErr(err)
}

// Depth counts the pending deliveries.
func (s *EventStore) Depth(ctx context.Context, t *kernel.Tenant) (int, time.Time, error) {
	var n int
	var oldest *time.Time
	err := s.pool.QueryRow(ctx, "SELECT count(*), min(o.occurred_at) FROM "+table(t, "outbox_deliveries")+" d JOIN "+
		table(t, "outbox")+" o ON o.id = d.outbox_id WHERE d.status = 'pending'").Scan(&n, &oldest)
	if err != nil || oldest == nil {
		return n, time.Time{}, dbErr(err)
	}
	return n, *oldest, nil
}

// Webhook reads a webhook with its secret.
func (s *EventStore) Webhook(ctx context.Context, t *kernel.Tenant, id uuid.UUID) (*events.Webhook, error) {
	var w events.Webhook
	err := s.pool.QueryRow(ctx, "SELECT id, url, events, secret, created_at FROM "+table(t, "webhooks")+" WHERE id = $1", id).
		Scan(&w.ID, &w.URL, &w.Events, &w.Secret, &w.CreatedAt)
	if err != nil {
		return nil, notFound(err, "webhook")
	}
	return &w, nil
}

// LogAttempt records a webhook delivery attempt.
func (s *EventStore) LogAttempt(ctx context.Context, t *kernel.Tenant, a events.WebhookAttempt) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO "+table(t, "webhooks_deliveries")+
		" (webhook_id, event_id, at, attempt, status_code, duration_ms, error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		a.WebhookID, a.EventID, a.At, a.Attempt, a.StatusCode, a.DurationMS, a.Error)
	return dbErr(err)
}

const recordSelect = `SELECT o.id, o.event_id, o.type, o.source, o.payload, o.occurred_at,
	coalesce(jsonb_agg(jsonb_build_object('subscriber', d.subscriber, 'status', d.status, 'attempts', d.attempts,
		'last_error', nullif(d.last_error, ''),
		'next_attempt_at', CASE WHEN d.status = 'pending' THEN d.next_attempt_at END, 'delivered_at', d.delivered_at)
		ORDER BY d.subscriber) FILTER (WHERE d.subscriber IS NOT NULL), '[]')
	FROM outbox o LEFT JOIN outbox_deliveries d ON d.outbox_id = o.id `

func scanRecords(rows pgx.Rows) ([]events.Record, error) {
	out := []events.Record{}
	for rows.Next() {
		var r events.Record
		var seq int64
		var deliveries []byte
		if err := rows.Scan(&seq, &r.ID, &r.Type, &r.Source, &r.Payload, &r.OccurredAt, &deliveries); err != nil {
			rows.Close()
			return nil, err
		}
		if err := json.Unmarshal(deliveries, &r.Deliveries); err != nil {
			rows.Close()
			return nil, err
		}
		r.OccurredAt = r.OccurredAt.UTC()
		r.Seq = seq
		out = append(out, r)
	}
	rows.Close()
	return out, rows.Err()
}

// List lists events newest first.
func (s *EventStore) List(ctx context.Context, q events.ListQuery) ([]events.Record, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, recordSelect+`WHERE ($1 = '' OR o.type = $1) AND ($2::bigint = 0 OR o.id < $2)
		AND ($3 = '' OR EXISTS (SELECT 1 FROM outbox_deliveries x WHERE x.outbox_id = o.id AND x.status = $3))
		GROUP BY o.id ORDER BY o.id DESC LIMIT $4`, q.Type, q.After, q.Status, q.Limit)
	if err != nil {
		return nil, err
	}
	return scanRecords(rows)
}

var errNothingParked = kernel.E(kernel.KindConflict, "the event has no parked (failed) delivery to retry")

// Retry makes the event's parked deliveries pending and due at once.
func (s *EventStore) Retry(ctx context.Context, id uuid.UUID) (*events.Record, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	tag, err := tx.Exec(ctx, `UPDATE outbox_deliveries d SET status = 'pending', attempts = 0, next_attempt_at = now(),
		leased_until = NULL FROM outbox o WHERE o.id = d.outbox_id AND o.event_id = $1 AND d.status = 'failed'`, id)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, recordSelect+"WHERE o.event_id = $1 GROUP BY o.id", id)
	if err != nil {
		return nil, err
	}
	recs, err := scanRecords(rows)
	switch {
	case err != nil:
		return nil, err
	case len(recs) == 0:
		return nil, kernel.NotFound("event")
	case tag.RowsAffected() == 0:
		return nil, errNothingParked
	}
	if err := notifyTenant(ctx, tx, EventsChannel); err != nil {
		return nil, err
	}
	return &recs[0], nil
}

// CreateWebhook adds a webhook.
func (s *EventStore) CreateWebhook(ctx context.Context, w *events.Webhook) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "INSERT INTO webhooks (id, url, events, secret, created_at) VALUES ($1, $2, $3, $4, $5)",
		w.ID, w.URL, w.Events, w.Secret, w.CreatedAt)
	return err
}

// ListWebhooks lists the webhooks, oldest first, without their secrets.
func (s *EventStore) ListWebhooks(ctx context.Context) ([]events.Webhook, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT id, url, events, created_at FROM webhooks ORDER BY created_at, id")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (events.Webhook, error) {
		var w events.Webhook
		err := r.Scan(&w.ID, &w.URL, &w.Events, &w.CreatedAt)
		w.CreatedAt = w.CreatedAt.UTC()
		return w, err
	})
}

// GetWebhook reads a webhook without its secret.
func (s *EventStore) GetWebhook(ctx context.Context, id uuid.UUID) (*events.Webhook, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	var w events.Webhook
	err = tx.QueryRow(ctx, "SELECT id, url, events, created_at FROM webhooks WHERE id = $1", id).Scan(&w.ID, &w.URL, &w.Events, &w.CreatedAt)
	if err != nil {
		return nil, notFound(err, "webhook")
	}
	w.CreatedAt = w.CreatedAt.UTC()
	return &w, nil
}

// DeleteWebhook removes a webhook with its deliveries.
func (s *EventStore) DeleteWebhook(ctx context.Context, id uuid.UUID) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM outbox_deliveries WHERE subscriber = $1", "webhook:"+id.String()); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, "DELETE FROM webhooks WHERE id = $1", id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return kernel.NotFound("webhook")
	}
	return nil
}

// WebhookAttempts lists a webhook's delivery attempts, newest first.
func (s *EventStore) WebhookAttempts(ctx context.Context, id uuid.UUID, limit int) ([]events.WebhookAttempt, error) {
	if _, err := s.GetWebhook(ctx, id); err != nil {
		return nil, err
	}
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT event_id, at, status_code, duration_ms, error, attempt FROM webhooks_deliveries
		WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (events.WebhookAttempt, error) {
		a := events.WebhookAttempt{WebhookID: id}
		err := r.Scan(&a.EventID, &a.At, &a.StatusCode, &a.DurationMS, &a.Error, &a.Attempt)
		a.At = a.At.UTC()
		return a, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return []events.WebhookAttempt{}, nil
	}
	return out, err
}

// dbErr is unavailable for a failure, nil for none.
func dbErr(err error) error {
	if err == nil {
		return nil
	}
	return unavailable(err)
}
