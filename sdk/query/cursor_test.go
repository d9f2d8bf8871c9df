package query_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/query"
)

var (
	lastID  = uuid.MustParse("0190a6f0-0000-7000-8000-000000000001")
	lastRow = map[string]any{"title": "b", "due_date": (*time.Time)(nil), "id": lastID}
)

// page parses raw and makes the cursor after a row with the given values.
func page(t *testing.T, f query.Fields, raw string, last map[string]any) (query.Spec, string) {
	t.Helper()
	s, err := query.Parse(values(t, raw), f, query.Options{})
	require.NoError(t, err)
	token, err := s.Cursor(last)
	require.NoError(t, err)
	return s, token
}

func TestCursorRoundTrip(t *testing.T) {
	_, token := page(t, tasks, "sort=title,-due_date&status=todo&status=done", lastRow)
	assert.NotContains(t, token, "=")

	// Filter and one-of order do not matter; the limit may change.
	s, err := query.Parse(values(t, "status=done&status=todo&sort=title,-due_date&limit=3&cursor="+token), tasks, query.Options{})
	require.NoError(t, err)
	assert.Equal(t, []any{"b", nil, lastID.String()}, s.After)

	at := time.Date(2025, 1, 31, 9, 0, 0, 123456000, time.FixedZone("x", 7200))
	due := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	_, token = page(t, tasks, "sort=-created_at,due_date", map[string]any{"created_at": at, "due_date": &due, "id": lastID})
	s, err = query.Parse(values(t, "sort=-created_at,due_date&cursor="+token), tasks, query.Options{})
	require.NoError(t, err)
	assert.Equal(t, []any{at.UTC(), "2025-02-01", lastID.String()}, s.After)
}

// The engine's tests cover every refusal; these check that they reach the
// plugin as sdk.KindInvalidCursor on "cursor".
func TestCursorRefusals(t *testing.T) {
	const made = "sort=title,-due_date&status=todo"
	_, token := page(t, tasks, made, lastRow)
	tests := []struct {
		name, query, message string
		scope                []query.Filter
	}{
		{"garbage", "cursor=%21%21", "not a cursor", nil},
		{"truncated", made + "&cursor=" + token[:len(token)-4], "not a cursor", nil},
		{"other sort", "sort=title,due_date&status=todo&cursor=" + token, "different list, sort or filter", nil},
		{"other scope", made + "&cursor=" + token, "different list", []query.Filter{query.Equal("project_id", uuid.New())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := query.Parse(values(t, tt.query), tasks, query.Options{Scope: tt.scope})
			got := fields(t, err, sdk.KindInvalidCursor)
			require.Len(t, got, 1)
			assert.Contains(t, got["cursor"], tt.message)
		})
	}
}

// A cursor whose checksum is right but whose values do not fit the fields
// (crafted by hand, since the checksum is no secret) is refused too.
func TestCursorValuesAreTypeChecked(t *testing.T) {
	s, good := page(t, tasks, "sort=title", map[string]any{"title": "a", "id": lastID})
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	shape := raw[1:17]
	for name, body := range map[string]string{
		"not a uuid":   `["a","nope"]`,
		"NULL id":      `["a",null]`,
		"too few":      `["a"]`,
		"too many":     `["a","` + lastID.String() + `","x"]`,
		"not strings":  `[1,2]`,
		"not an array": `{"a":1}`,
	} {
		token := craft(shape, body)
		_, err := query.Parse(values(t, "sort=title&cursor="+token), tasks, query.Options{})
		assert.Contains(t, fields(t, err, sdk.KindInvalidCursor)["cursor"], "not a cursor", name)
	}
	// The same crafting with fitting values is accepted: cursors are not secret.
	token := craft(shape, `["zzz","`+lastID.String()+`"]`)
	s2, err := query.Parse(values(t, "sort=title&cursor="+token), tasks, query.Options{})
	require.NoError(t, err)
	assert.Equal(t, []any{"zzz", lastID.String()}, s2.After)
	assert.Equal(t, s.Order(), s2.Order())
}

// craft builds a cursor as the package does, checksum included.
func craft(shape []byte, body string) string {
	payload := append(append([]byte{1}, shape...), body...)
	return base64.RawURLEncoding.EncodeToString(append(payload, sum(payload)...))
}

// sum is the package's checksum, written out: the format is documented.
func sum(payload []byte) []byte {
	key := sha256.Sum256([]byte("atrium/sdk/query cursor"))
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte("atrium/spec cursor\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

func TestCursorNeedsEverySortKey(t *testing.T) {
	s, err := query.Parse(values(t, "sort=title"), tasks, query.Options{})
	require.NoError(t, err)
	_, err = s.Cursor(map[string]any{"id": lastID})
	assert.Error(t, err)
	_, err = query.Spec{}.Cursor(lastRow)
	assert.Error(t, err, "not from Parse")
}

func TestPaginate(t *testing.T) {
	ids := make([]uuid.UUID, 4)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	key := func(id uuid.UUID) map[string]any { return map[string]any{"id": id} }
	s, err := query.Parse(values(t, "limit=3"), tasks, query.Options{})
	require.NoError(t, err)

	items, next, err := query.Paginate(s, ids[:3], key)
	require.NoError(t, err)
	assert.Equal(t, ids[:3], items)
	assert.Empty(t, next, "no extra row: the last page")

	items, next, err = query.Paginate(s, ids, key)
	require.NoError(t, err)
	assert.Equal(t, ids[:3], items)
	s, err = query.Parse(values(t, "limit=3&cursor="+next), tasks, query.Options{})
	require.NoError(t, err)
	assert.Equal(t, []any{ids[2].String()}, s.After, "continues after the page's last row")

	_, _, err = query.Paginate(query.Spec{}, ids, key)
	assert.Error(t, err)
}
