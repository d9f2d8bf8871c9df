package telemetry

import (
	"context"
	"log/slog"
	"slices"

	"github.com/atriumhq/atrium/core/kernel"
)

// requestFields adds the request's identity to each record from its context.
type requestFields struct{ slog.Handler }

type attrsKey struct{}

// WithAttrs returns a context whose log lines carry attrs (the HTTP layer
// adds method and route), on top of any the context already carries; an
// attr whose key it already carries replaces it (a plugin's route, known
// only once the router gave up).
func WithAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(attrsKey{}).([]slog.Attr)
	kept := make([]slog.Attr, 0, len(prev)+len(attrs))
	for _, a := range prev {
		if !slices.ContainsFunc(attrs, func(b slog.Attr) bool { return b.Key == a.Key }) {
			kept = append(kept, a)
		}
	}
	return context.WithValue(ctx, attrsKey{}, append(kept, attrs...))
}

func (h requestFields) Handle(ctx context.Context, r slog.Record) error {
	if attrs, ok := ctx.Value(attrsKey{}).([]slog.Attr); ok {
		r.AddAttrs(attrs...)
	}
	if id := kernel.RequestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if t, ok := kernel.TenantFrom(ctx); ok {
		r.AddAttrs(slog.String("tenant", t.Slug))
	}
	if p, ok := kernel.PrincipalFrom(ctx); ok {
		r.AddAttrs(slog.String("principal", p.ID.String()), slog.String("principal_type", string(p.Type)))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestFields) WithAttrs(as []slog.Attr) slog.Handler {
	return requestFields{h.Handler.WithAttrs(as)}
}

func (h requestFields) WithGroup(name string) slog.Handler {
	return requestFields{h.Handler.WithGroup(name)}
}
