package pluginhost

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

type stubSQL struct{}

func (stubSQL) Query(context.Context, string, string, []any) (*transport.ResultSet, error) {
	return &transport.ResultSet{}, nil
}
func (stubSQL) Exec(context.Context, string, string, []any) (int64, error) { return 0, nil }
func (stubSQL) Batch(context.Context, string, []transport.Statement) ([]*transport.ResultSet, error) {
	return nil, nil
}
func (stubSQL) Rollback(context.Context, string) error { return nil }

// TestHostCallsAreSpansOfThePlugin: each host call is a span whose parent is
// the plugin's span the call carried back, named after the call, with the
// plugin and (for SQL) the statement; a refused statement marks it failed.
func TestHostCallsAreSpansOfThePlugin(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := Services{SQL: stubSQL{}, Tracer: tp.Tracer("test")}
	svc := s.For("notes", &kernel.Tenant{ID: uuid.New()}, func(context.Context, string, sdk.Resource) (bool, error) { return true, nil }, nil)

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	pluginSpan, _ := trace.SpanIDFromHex("35f50c7b15ffc4a8")
	ctx := trace.ContextWithRemoteSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: pluginSpan, TraceFlags: trace.FlagsSampled}))

	_, err := svc.Query(ctx, "SELECT id FROM notes WHERE id = $1", []any{1})
	require.NoError(t, err)
	_, err = svc.Exec(ctx, "DROP TABLE audit_log", nil)
	require.Error(t, err, "the guard refuses it")
	ok, err := svc.Authorize(ctx, "notes.note.read", sdk.Resource{Type: "note"})
	require.NoError(t, err)
	require.True(t, ok)

	spans := rec.Ended()
	require.Len(t, spans, 3)
	for i, want := range []string{"plugin host sql query", "plugin host sql exec", "plugin host authorize"} {
		sp := spans[i]
		require.Equal(t, want, sp.Name())
		require.Equal(t, tid, sp.SpanContext().TraceID())
		require.Equal(t, pluginSpan, sp.Parent().SpanID(), "%s: a child of the plugin's span", want)
		require.Contains(t, sp.Attributes(), attr("atrium.plugin", "notes"))
	}
	require.Contains(t, spans[0].Attributes(), attr("db.query.text", "SELECT id FROM notes WHERE id = $1"))
	require.Equal(t, "Error", spans[1].Status().Code.String())
}

func attr(k, v string) attribute.KeyValue { return attribute.String(k, v) }
