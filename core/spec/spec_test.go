package spec_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

// The engine (internal/listquery) has the tests of parsing, cursors and SQL;
// these check what the core's face adds: kernel errors and the lazy codec.

var users = spec.NewFields("user", "id", map[string]spec.Field{
	"id":     {Column: "id", Type: spec.UUID},
	"email":  {Column: "email", Type: spec.String, Filter: true, Sort: true},
	"active": {Column: "active", Type: spec.Bool, Filter: true},
})

func codec(t *testing.T) *spec.Codec {
	t.Helper()
	l := spec.NewLazyCodec(func(context.Context) ([]byte, error) { return []byte("installation secret"), nil })
	c, err := l.Get(context.Background())
	require.NoError(t, err)
	return c
}

func TestParseAnswersInKernelErrors(t *testing.T) {
	c := codec(t)
	tests := []struct {
		query    url.Values
		sentinel *kernel.Error
		fields   []string
	}{
		{url.Values{"limit": {"0"}, "sort": {"name"}, "active": {"yes"}}, spec.ErrInvalidQuery, []string{"active", "limit", "sort"}},
		{url.Values{"cursor": {"forged"}}, spec.ErrInvalidCursor, []string{"cursor"}},
	}
	for _, tt := range tests {
		_, err := spec.Parse(tt.query, users, spec.Options{Codec: c})
		require.ErrorIs(t, err, tt.sentinel)
		var e *kernel.Error
		require.True(t, errors.As(err, &e))
		assert.Equal(t, kernel.KindBadRequest, e.Kind)
		var named []string
		for _, f := range e.Fields {
			named = append(named, f.Field)
		}
		assert.Equal(t, tt.fields, named)
	}

	_, err := spec.Parse(url.Values{}, users, spec.Options{Filters: []spec.Filter{spec.Equal("nope", 1)}})
	require.Error(t, err)
	assert.Equal(t, kernel.KindInternal, kernel.KindOf(err), "the caller's mistake is ours")
}

func TestPagesFollowOneAnother(t *testing.T) {
	c := codec(t)
	ids := []uuid.UUID{kernel.NewID(), kernel.NewID(), kernel.NewID()}
	s, err := spec.Parse(url.Values{"limit": {"2"}, "active": {"true"}}, users, spec.Options{Codec: c})
	require.NoError(t, err)
	page, next, err := spec.Paginate(c, s, users, ids, func(id uuid.UUID) map[string]any { return map[string]any{"id": id} })
	require.NoError(t, err)
	assert.Equal(t, ids[:2], page)

	s, err = spec.Parse(url.Values{"limit": {"2"}, "active": {"true"}, "cursor": {next}}, users, spec.Options{Codec: c})
	require.NoError(t, err)
	assert.Equal(t, []any{ids[1].String()}, s.After.Values)

	_, err = spec.Parse(url.Values{"active": {"false"}, "cursor": {next}}, users, spec.Options{Codec: c})
	assert.ErrorIs(t, err, spec.ErrInvalidCursor, "bound to the filters")
}

func TestNewFieldsPanicsOnMalformedLists(t *testing.T) {
	assert.PanicsWithValue(t, `spec: list r: tiebreak "id" must be a non-null field`, func() {
		spec.NewFields("r", "id", map[string]spec.Field{"x": {Column: "x", Type: spec.UUID}})
	})
	assert.Panics(t, func() {
		spec.NewFields("r", "id", map[string]spec.Field{"id": {Column: strings.Repeat("x", 3) + `"`, Type: spec.UUID}})
	})
}
