package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("load project: %w", NotFound("project %s", "p1"))
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		t.Fatalf("errors.Is on %v", err)
	}
	if errors.Is(NotFound("a"), NotFound("a")) {
		t.Error("a built error must not act as a sentinel")
	}
	if got := Invalid(FieldError{"name", "required"}).Error(); got != "invalid: the request is invalid; name: required" {
		t.Errorf("Error() = %q", got)
	}
}

func TestErrorCrossesBoundary(t *testing.T) {
	cause := errors.New("disk full")
	tests := []struct {
		name string
		err  error
		from wire.Source
		want Error
	}{
		{"not found claimed by sender", NotFound("item %d", 7), wire.Source_SOURCE_PLUGIN,
			Error{Kind: KindNotFound, Message: "item 7", Source: SourcePlugin}},
		{"source kept", &Error{Kind: KindConflict, Message: "dup", Source: SourceHost}, wire.Source_SOURCE_PLUGIN,
			Error{Kind: KindConflict, Message: "dup", Source: SourceHost}},
		{"fields", Invalid(FieldError{"name", "required"}, FieldError{"due", "must be a date"}), wire.Source_SOURCE_PLUGIN,
			Error{Kind: KindInvalid, Message: "the request is invalid", Source: SourcePlugin,
				Fields: []FieldError{{"name", "required"}, {"due", "must be a date"}}}},
		{"internal carries its cause as text", Internal(cause, "save"), wire.Source_SOURCE_HOST,
			Error{Kind: KindInternal, Message: "save: disk full", Source: SourceHost}},
		{"plain error is internal", fmt.Errorf("wrapped: %w", cause), wire.Source_SOURCE_PLUGIN,
			Error{Kind: KindInternal, Message: "wrapped: disk full", Source: SourcePlugin}},
		{"deadline is timeout", fmt.Errorf("query: %w", context.DeadlineExceeded), wire.Source_SOURCE_PLUGIN,
			Error{Kind: KindTimeout, Message: "deadline exceeded", Source: SourcePlugin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorFromWire(errorToWire(tt.err, tt.from))
			if got.Kind != tt.want.Kind || got.Message != tt.want.Message || got.Source != tt.want.Source ||
				fmt.Sprint(got.Fields) != fmt.Sprint(tt.want.Fields) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
			sentinel := &Error{Kind: tt.want.Kind}
			if !errors.Is(got, sentinel) {
				t.Errorf("errors.Is(%v, sentinel of its kind) is false", got)
			}
		})
	}
}

func TestErrorFromWireRejectsUnknownKind(t *testing.T) {
	got := errorFromWire(&wire.Error{Kind: 99, Source: 42, Message: "x"})
	if got.Kind != KindInternal || got.Source != SourceUnspecified {
		t.Errorf("got %+v", got)
	}
}

// TestEveryKindCrossesBoundary: every kind has a wire kind of the same name
// and comes back as itself, and every wire kind is a kind, so a kind added on
// one side only fails here (the host's mapping to HTTP is pinned by core/app's
// TestKindsRoundTrip).
func TestEveryKindCrossesBoundary(t *testing.T) {
	for k := range Kind(len(kindNames)) {
		name, ok := wire.Kind_name[int32(k)]
		if want := "KIND_" + strings.ToUpper(k.String()); !ok || name != want {
			t.Errorf("kind %s is wire kind %q, want %q", k, name, want)
		}
		sent := &Error{Kind: k, Message: "m", Fields: []FieldError{{"f", "bad"}}}
		got := errorFromWire(errorToWire(sent, wire.Source_SOURCE_PLUGIN))
		if got.Kind != k || got.Message != "m" || len(got.Fields) != 1 || !errors.Is(got, &Error{Kind: k}) {
			t.Errorf("kind %s came back as %+v", k, *got)
		}
	}
	if len(wire.Kind_name) != len(kindNames) {
		t.Errorf("%d wire kinds, %d kinds: a wire kind has no sdk.Kind", len(wire.Kind_name), len(kindNames))
	}
	unknown := errorFromWire(&wire.Error{Kind: wire.Kind(len(kindNames)), Message: "from a newer plugin"})
	if unknown.Kind != KindInternal {
		t.Errorf("an unknown wire kind is %s, want internal", unknown.Kind)
	}
}
