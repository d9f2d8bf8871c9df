package audit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

// Store keeps the tenants' audit records.
type Store interface {
	// Append writes r, unsealed, in the unit of work in ctx. It may hold
	// the write back until the unit of work commits; if the write then
	// fails, the commit fails with the error fail returns, and the change
	// rolls back with it.
	Append(ctx context.Context, r *Record, fail func(error) error) error
	// Seal locks t's chain head, hands it and up to max unsealed records
	// (in insertion order) to seal, and stores their places in the chain
	// and the new head. It runs in a transaction of its own, outside the
	// tenant role, which may not write the chain. It returns how many it
	// sealed.
	Seal(ctx context.Context, t *kernel.Tenant, max int, seal func(Head, []*Record) Head) (int, error)
	// List reads a page of records, newest first unless q sorts otherwise,
	// in the unit of work in ctx. Zero since/until leave that end open.
	List(ctx context.Context, q spec.Spec, since, until time.Time) ([]*Record, error)
	// Chain reads up to limit chain entries after seq, in chain order, with
	// their records, in the unit of work in ctx. An entry whose record is
	// gone comes with an empty record.
	Chain(ctx context.Context, after int64, limit int) ([]*Record, error)
	// Head reads the chain head, in the unit of work in ctx.
	Head(ctx context.Context) (Head, error)
	// State reads the chain head and counts the records outside the chain
	// (a scan of the log: for verification), in the unit of work in ctx.
	State(ctx context.Context) (State, error)
}

// State is where a tenant's chain stands.
type State struct {
	Head Head
	// Unsealed records wait for the sealer.
	Unsealed int64
	// Orphans are records neither in the chain nor waiting for it: their
	// queue entry was removed behind Atrium's back.
	Orphans int64
}

// Entry is what a caller records; Log fills in who, when and from where.
type Entry struct {
	Action        string // the permission acted under, or an event name
	Resource      Resource
	Outcome       Outcome
	Reasons       []string
	PolicyVersion string
	Details       map[string]any
	// Actor overrides the request's principal (a failed sign-in has none).
	Actor *Actor
}

// Recorder is the audit log as other contexts use it.
type Recorder interface {
	// Record writes e in the unit of work in ctx: it commits or rolls back
	// with the change it records.
	Record(ctx context.Context, e Entry) error
	// RecordAlone writes e in a unit of work of its own, for refusals and
	// failures whose own transaction rolled back. ctx must not carry a unit
	// of work.
	RecordAlone(ctx context.Context, t *kernel.Tenant, e Entry) error
}

// Log writes and reads tenants' audit logs.
type Log struct {
	store   Store
	uow     kernel.Transactor
	clock   kernel.Clock
	sealer  *Sealer
	cps     *Checkpoints
	cursors *spec.LazyCodec
	log     *slog.Logger
	metrics *metrics
}

var _ Recorder = (*Log)(nil)

// LogOptions are Log's collaborators.
type LogOptions struct {
	Store       Store
	UnitOfWork  kernel.Transactor
	Clock       kernel.Clock
	Sealer      *Sealer
	Checkpoints *Checkpoints // nil: verification without checkpoints
	// Secret keys list cursors.
	Secret Secret
	Logger *slog.Logger
}

// NewLog returns the audit log service.
func NewLog(o LogOptions) *Log {
	return &Log{store: o.Store, uow: o.UnitOfWork, clock: o.Clock, sealer: o.Sealer, cps: o.Checkpoints,
		cursors: spec.NewLazyCodec(o.Secret), log: o.Logger, metrics: o.Sealer.metrics}
}

// ErrUnwritable matches (errors.Is) the error of a request whose audit
// record cannot be written: the request fails rather than go unrecorded.
var ErrUnwritable = &kernel.Error{Kind: kernel.KindUnavailable, Code: "audit_unavailable"}

// Unwritable is the error of a request that fails because its audit record
// could not be written (cause): the problem says when the database is
// what failed, and cause goes to the log with it.
func Unwritable(cause error) error {
	msg := "the audit log cannot be written; nothing was changed"
	var ke *kernel.Error
	switch {
	case !errors.As(cause, &ke) || ke.Kind != kernel.KindUnavailable:
	case ke.Code == ErrUnwritable.Code:
		msg = ke.Message // said already
	default:
		msg = "the database is unavailable, so the audit log cannot be written; nothing was changed"
	}
	return kernel.Wrap(kernel.KindUnavailable, cause, "%s", msg).WithCode(ErrUnwritable.Code)
}

// failed counts and logs a record of e that could not be written, and
// returns the error the request fails with.
func (l *Log) failed(ctx context.Context, e Entry, err error) error {
	l.metrics.failed(e.Outcome)
	l.log.ErrorContext(ctx, "audit record not written", "action", e.Action, "outcome", e.Outcome, "error", err)
	return Unwritable(err)
}

// Record writes e in the unit of work in ctx.
func (l *Log) Record(ctx context.Context, e Entry) error {
	u, ok := kernel.UnitFrom(ctx)
	if !ok {
		return errors.New("audit: Record outside a unit of work")
	}
	r, err := l.Build(ctx, e)
	if err != nil {
		return err
	}
	fail := func(err error) error { return l.failed(ctx, e, err) }
	if err := l.store.Append(ctx, r, fail); err != nil {
		return fail(err)
	}
	t := u.Tenant
	kernel.AfterCommit(ctx, func() {
		l.metrics.written(e.Outcome)
		l.sealer.Kick(t)
	})
	return nil
}

// RecordChange records the success of the request in ctx from inside the
// transaction of the change it made, for changes made outside any tenant
// unit of work (an operator's to a tenant): write inserts the record in
// that transaction, so the change and its record commit together. Without
// a request note (no request to speak of) it records nothing.
func (l *Log) RecordChange(ctx context.Context, write func(*Record) error) error {
	n, ok := NoteFrom(ctx)
	if !ok {
		return nil
	}
	n.mu.Lock()
	action := n.action
	n.mu.Unlock()
	e := n.Entry(action, Success)
	r, err := l.Build(ctx, e)
	if err != nil {
		return err
	}
	if err := write(r); err != nil {
		return l.failed(ctx, e, err)
	}
	n.mu.Lock()
	n.recorded = true
	n.mu.Unlock()
	return nil
}

// RecordInUnit records the request's success, as RecordChange does, in the
// unit of work ctx runs in: an operator's change made in a tenant's unit
// of work commits with its record, or neither does.
func (l *Log) RecordInUnit(ctx context.Context) error {
	if _, ok := kernel.UnitFrom(ctx); !ok {
		return errors.New("audit: RecordInUnit outside a unit of work")
	}
	return l.RecordChange(ctx, func(r *Record) error {
		// Its statement goes with COMMIT: a failure there is the log's too.
		return l.store.Append(ctx, r, func(err error) error {
			return l.failed(ctx, Entry{Action: r.Action, Outcome: Success}, err)
		})
	})
}

// Committed tells the log a change recorded with RecordChange committed in
// t: the record is counted and queued for sealing.
func (l *Log) Committed(t *kernel.Tenant) {
	l.metrics.written(Success)
	l.sealer.Kick(t)
}

// RecordAlone writes e in a unit of work of its own. It outlives a client
// that hung up: a refusal is recorded either way.
func (l *Log) RecordAlone(ctx context.Context, t *kernel.Tenant, e Entry) error {
	if _, ok := kernel.UnitFrom(ctx); ok {
		return errors.New("audit: RecordAlone inside a unit of work")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), aloneTimeout)
	defer cancel()
	return l.uow.InTenant(ctx, t, func(ctx context.Context) error { return l.Record(ctx, e) })
}

const aloneTimeout = 5 * time.Second

// Build turns e into a record: who, when and from where come from ctx.
func (l *Log) Build(ctx context.Context, e Entry) (*Record, error) {
	details := []byte("{}")
	if len(e.Details) > 0 {
		var err error
		if details, err = json.Marshal(e.Details); err != nil {
			return nil, err
		}
	}
	meta := kernel.RequestMetaFrom(ctx)
	r := &Record{
		At: l.clock.Now().UTC().Truncate(time.Microsecond), Action: e.Action, Resource: e.Resource,
		Outcome: e.Outcome, Reasons: e.Reasons, PolicyVersion: e.PolicyVersion,
		RequestID: kernel.RequestIDFrom(ctx), IP: meta.IP, UserAgent: meta.UserAgent, Details: details,
	}
	if r.Reasons == nil {
		r.Reasons = []string{}
	}
	switch p, ok := kernel.PrincipalFrom(ctx); {
	case e.Actor != nil:
		r.Actor = *e.Actor
	case ok:
		r.Actor = Actor{Type: string(p.Type), ID: p.ID.String(), Email: p.Email}
	default:
		r.Actor = Actor{Type: ActorAnonymous}
	}
	return r, nil
}

// Fields is the allow-list of audit lists: ?actor= (an actor ID),
// ?action=, ?outcome=, plus ?since= and ?until= (RFC 3339) handled by List.
var Fields = spec.NewFields("audit_record", "id", map[string]spec.Field{
	"id":            {Column: "id", Type: spec.Int},
	"actor":         {Column: "actor_id", Type: spec.String, Filter: true},
	"actor_email":   {Column: "actor_email", Type: spec.String, Filter: true},
	"action":        {Column: "action", Type: spec.String, Filter: true},
	"outcome":       {Column: "outcome", Type: spec.Enum, Values: []string{string(Success), string(Deny), string(Failure)}, Filter: true},
	"resource_type": {Column: "resource_type", Type: spec.String, Filter: true},
	"resource_id":   {Column: "resource_id", Type: spec.String, Filter: true},
})

// Cursors verify and make list cursors.
func (l *Log) Cursors(ctx context.Context) (*spec.Codec, error) { return l.cursors.Get(ctx) }

// List returns a page of t's records, newest first, and the next page's
// cursor. Pending records are sealed first, so the page shows their places
// in the chain.
func (l *Log) List(ctx context.Context, t *kernel.Tenant, q spec.Spec, since, until time.Time) ([]*Record, string, error) {
	l.sealBefore(ctx, t)
	codec, err := l.cursors.Get(ctx)
	if err != nil {
		return nil, "", err
	}
	var rows []*Record
	err = l.uow.InTenant(ctx, t, func(ctx context.Context) error {
		rows, err = l.store.List(ctx, q, since, until)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return spec.Paginate(codec, q, Fields, rows, func(r *Record) map[string]any { return map[string]any{"id": r.ID} })
}

// Verify walks t's chain from the first record to the head and checks it
// against the signed checkpoints, reporting the first broken link.
func (l *Log) Verify(ctx context.Context, t *kernel.Tenant) (Verification, error) {
	l.sealBefore(ctx, t)
	var cps []Checkpoint
	if l.cps != nil {
		var err error
		if cps, err = l.cps.Load(ctx, t); err != nil {
			return Verification{}, err
		}
	}
	w := newWalker(cps)
	var out Verification
	err := l.uow.InTenant(ctx, t, func(ctx context.Context) error {
		for {
			page, err := l.store.Chain(ctx, w.seq, verifyPage)
			if err != nil {
				return err
			}
			for _, r := range page {
				if !w.next(r) {
					break
				}
			}
			if w.v.FirstBrokenSeq != 0 || len(page) < verifyPage {
				break
			}
		}
		st, err := l.store.State(ctx)
		if err != nil {
			return err
		}
		out = w.finish(st)
		return nil
	})
	if !out.OK && err == nil {
		l.log.WarnContext(ctx, "audit chain broken", "tenant", t.Slug, "first_broken_seq", out.FirstBrokenSeq, "problem", out.Problem)
	}
	return out, err
}

const verifyPage = 1000

// Seal seals t's pending records now.
func (l *Log) Seal(ctx context.Context, t *kernel.Tenant) error { return l.sealer.SealNow(ctx, t) }

// sealBefore seals what is pending so reads see it in the chain. A failure
// leaves records unsealed, not lost: the sealer retries them later.
func (l *Log) sealBefore(ctx context.Context, t *kernel.Tenant) {
	if err := l.sealer.SealNow(ctx, t); err != nil {
		l.log.WarnContext(ctx, "audit records not sealed before reading", "tenant", t.Slug, "error", err)
	}
}
