package listquery_test

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/internal/listquery"
)

func newCodec(t testing.TB, seed byte) *listquery.Codec {
	t.Helper()
	c, err := listquery.NewCodec([]byte(strings.Repeat(string(rune('a'+seed)), 32)))
	require.NoError(t, err)
	return c
}

// page parses raw and makes the cursor after a row with the given values.
func page(t *testing.T, c *listquery.Codec, f listquery.Fields, raw string, last map[string]any) (listquery.Spec, string) {
	t.Helper()
	s, err := listquery.Parse(query(t, raw), f, listquery.Options{Codec: c, Reserved: []string{"since"}})
	require.NoError(t, err)
	token, err := c.Next(s, f, last)
	require.NoError(t, err)
	return s, token
}

var (
	lastID  = uuid.MustParse("0190a6f0-0000-7000-8000-000000000001")
	lastRow = map[string]any{"title": status("b"), "due_date": (*time.Time)(nil), "id": lastID}
)

func TestCursorRoundTrip(t *testing.T) {
	c := newCodec(t, 0)
	_, token := page(t, c, tasks, "sort=title,-due_date&status=todo&status=done&since=x", lastRow)
	assert.NotContains(t, token, "=")

	// Filter and one-of order do not matter; the limit may change.
	s, err := listquery.Parse(query(t, "status=done&status=todo&since=x&sort=title,-due_date&limit=3&cursor="+token), tasks,
		listquery.Options{Codec: c, Reserved: []string{"since"}})
	require.NoError(t, err)
	require.NotNil(t, s.After)
	assert.Equal(t, []any{"b", nil, lastRow["id"].(uuid.UUID).String()}, s.After.Values)

	at := time.Date(2025, 1, 31, 9, 0, 0, 123456000, time.FixedZone("x", 7200))
	_, token = page(t, c, tasks, "sort=-created_at", map[string]any{"created_at": at, "id": lastRow["id"]})
	s, err = listquery.Parse(query(t, "sort=-created_at&cursor="+token), tasks, listquery.Options{Codec: c})
	require.NoError(t, err)
	assert.Equal(t, []any{at.UTC(), lastRow["id"].(uuid.UUID).String()}, s.After.Values)
}

func TestCursorRefusals(t *testing.T) {
	c := newCodec(t, 0)
	const made = "sort=title,-due_date&status=todo&since=x"
	_, token := page(t, c, tasks, made, lastRow)
	raw, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err)
	reencode := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	other := must(listquery.NewFields("projects", "id", map[string]listquery.Field{
		"id":       {Column: "id", Type: listquery.UUID},
		"title":    {Column: "title", Type: listquery.String, Filter: true, Sort: true},
		"status":   {Column: "status", Type: listquery.Enum, Values: []string{"todo"}, Filter: true},
		"due_date": {Column: "due_date", Type: listquery.Date, Sort: true, Nullable: true},
	}))

	tests := []struct {
		name, query, message string
		codec                *listquery.Codec
		fields               listquery.Fields
	}{
		{"garbage", "cursor=%21%21", "not a cursor", c, tasks},
		{"truncated", "cursor=" + token[:len(token)-4], "not a cursor", c, tasks},
		{"too short", "cursor=" + token[:20], "not a cursor", c, tasks},
		{"padded", made + "&cursor=" + token + "==", "not a cursor", c, tasks},
		{"line break", "cursor=" + token[:10] + "%0A" + token[10:], "not a cursor", c, tasks},
		{"huge", "cursor=" + strings.Repeat("A", 20000), "not a cursor", c, tasks},
		{"foreign key", "cursor=" + token, "not a cursor", newCodec(t, 1), tasks},
		{"other list", "cursor=" + token, "different list, sort or filter", c, other},
		{"no codec", "cursor=" + token, "does not take cursors", nil, tasks},
		{"other sort", "sort=title,due_date&status=todo&since=x&cursor=" + token, "different list, sort or filter", c, tasks},
		{"other filter", "sort=title,-due_date&status=done&since=x&cursor=" + token, "different list, sort or filter", c, tasks},
		{"extra filter", "sort=title,-due_date&status=todo&urgent=true&since=x&cursor=" + token, "different list, sort or filter", c, tasks},
		{"other reserved", "sort=title,-due_date&status=todo&since=y&cursor=" + token, "different list, sort or filter", c, tasks},
	}
	for i := range raw { // every single-byte change
		b := []byte(string(raw))
		b[i] ^= 0x01
		tests = append(tests, struct {
			name, query, message string
			codec                *listquery.Codec
			fields               listquery.Fields
		}{"flip", made + "&cursor=" + reencode(b), "", c, tasks})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := listquery.Parse(query(t, tt.query), tt.fields, listquery.Options{Codec: tt.codec, Reserved: []string{"since"}})
			fields := mistake(t, err, listquery.BadCursor)
			require.Len(t, fields, 1)
			assert.Equal(t, "cursor", fields[0].Field)
			assert.Contains(t, fields[0].Message, tt.message)
		})
	}
	// A query error wins over the cursor.
	_, err = listquery.Parse(url.Values{"cursor": {"x"}, "limit": {"0"}}, tasks, listquery.Options{Codec: c})
	assert.NotEmpty(t, mistake(t, err, listquery.BadQuery))
}

func TestNextNeedsEverySortKey(t *testing.T) {
	c := newCodec(t, 0)
	s := listquery.Spec{Sort: []listquery.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}}}
	id := uuid.New()
	for name, last := range map[string]map[string]any{
		"missing":     {"title": "a", "id": id},
		"NULL id":     {"title": "a", "due_date": nil, "id": nil},
		"wrong type":  {"title": "a", "due_date": "tomorrow", "id": id},
		"unsupported": {"title": "a", "due_date": nil, "id": []byte("x")},
		"bad text":    {"title": "a\x00", "due_date": nil, "id": id},
	} {
		_, err := c.Next(s, tasks, last)
		assert.Error(t, err, name)
	}
}

func TestNewCodecNeedsALongKey(t *testing.T) {
	_, err := listquery.NewCodec(make([]byte, 31))
	require.Error(t, err)
}

func TestPaginate(t *testing.T) {
	c := newCodec(t, 0)
	ids := make([]uuid.UUID, 4)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	key := func(id uuid.UUID) map[string]any { return map[string]any{"id": id} }
	s := listquery.Spec{Limit: 3}

	items, next, err := listquery.Paginate(c, s, tasks, ids[:3], key)
	require.NoError(t, err)
	assert.Equal(t, ids[:3], items)
	assert.Empty(t, next, "no extra row: last page")

	items, next, err = listquery.Paginate(c, s, tasks, ids, key)
	require.NoError(t, err)
	assert.Equal(t, ids[:3], items)
	after, err := c.Decode(next, s, tasks)
	require.NoError(t, err)
	assert.Equal(t, []any{ids[2].String()}, after.Values, "continues after the page's last row")

	_, _, err = listquery.Paginate(nil, s, tasks, ids, key)
	require.Error(t, err)
}

// A cursor made by the core's list code before the two engines merged (at
// 07684ff, for this list, query and row) still decodes: the merge left the
// core's cursors in flight valid, and a change of format must be deliberate.
func TestCursorsOfTheCoreBeforeTheMergeStayValid(t *testing.T) {
	const made = "ASy_1on8gkoXwjIsn95LJ-lbIjIwMjUtMDEtMzFUMDk6MDA6MDAuMDAwMDAwMDA1WiIsIjAxOTBhNmYwLTAwMDAtNzAwMC04MDAwLTAwMDAwMDAwMDAwMSJdmQBZs-Fpysa1MP8GY1RJEf4oto74crDz1g74L8ugo9Y"
	c, err := listquery.NewCodec([]byte(strings.Repeat("k", 32)))
	require.NoError(t, err)
	users := must(listquery.NewFields("user", "id", map[string]listquery.Field{
		"id":         {Column: "id", Type: listquery.UUID},
		"email":      {Column: "email", Type: listquery.String, Filter: true, Sort: true},
		"status":     {Column: "status", Type: listquery.Enum, Values: []string{"active", "disabled"}, Filter: true},
		"created_at": {Column: "created_at", Type: listquery.Time, Sort: true},
	}))
	q := url.Values{"sort": {"-created_at"}, "status": {"disabled", "active"}, "email": {"a@b.c"}, "since": {"x"}, "cursor": {made}}
	s, err := listquery.Parse(q, users, listquery.Options{Codec: c, Reserved: []string{"since"}})
	require.NoError(t, err)
	assert.Equal(t, []any{time.Date(2025, 1, 31, 9, 0, 0, 5, time.UTC), "0190a6f0-0000-7000-8000-000000000001"}, s.After.Values)

	q.Set("since", "y")
	_, err = listquery.Parse(q, users, listquery.Options{Codec: c, Reserved: []string{"since"}})
	assert.NotEmpty(t, mistake(t, err, listquery.BadCursor), "still bound to the reserved parameters")
}
