package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// NewQueryDurations is the histogram of statements' durations a pool's
// tracer observes (atrium_db_query_duration_seconds).
func NewQueryDurations() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "atrium_db_query_duration_seconds",
		Help:    "Time from sending a statement to PostgreSQL to its result, plugins' statements included.",
		Buckets: []float64{1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5},
	})
}

// poolTracer is a pool's tracer: it times statements into queries (when
// set) and bounds the wait for a connection (acquireBound, when set). The
// cost per statement is a clock read and a context value.
type poolTracer struct {
	acquire acquireBound
	queries prometheus.Observer
}

var (
	_ pgx.QueryTracer       = poolTracer{}
	_ pgxpool.AcquireTracer = poolTracer{}
)

type queryStartKey struct{}

func (t poolTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	if t.queries == nil {
		return ctx
	}
	return context.WithValue(ctx, queryStartKey{}, time.Now())
}

func (t poolTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if start, ok := ctx.Value(queryStartKey{}).(time.Time); ok && t.queries != nil {
		t.queries.Observe(time.Since(start).Seconds())
	}
}

func (t poolTracer) TraceAcquireStart(ctx context.Context, p *pgxpool.Pool, d pgxpool.TraceAcquireStartData) context.Context {
	if t.acquire <= 0 {
		return ctx
	}
	return t.acquire.TraceAcquireStart(ctx, p, d)
}

func (t poolTracer) TraceAcquireEnd(ctx context.Context, p *pgxpool.Pool, d pgxpool.TraceAcquireEndData) {
	if t.acquire > 0 {
		t.acquire.TraceAcquireEnd(ctx, p, d)
	}
}
