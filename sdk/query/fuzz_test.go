package query_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/query"
)

var fuzzScope = query.Options{Scope: []query.Filter{query.Equal("project_id", uuid.Nil)}}

// FuzzParse: whatever the query string, Parse returns either a spec that
// fits the allow-list (and translates to SQL) or an invalid-query or
// invalid-cursor error naming a parameter; it never panics and never blames the client with a 500.
func FuzzParse(f *testing.F) {
	s, _ := query.Parse(url.Values{"sort": {"title,-due_date"}}, tasks, fuzzScope)
	token, _ := s.Cursor(lastRow)
	for _, q := range []string{
		"", "limit=7", "limit=-1", "limit=0x10", "sort=-created_at,title", "sort=--title", "sort=,", "status=todo&status=doing",
		"created_at=2025-01-31T10:00:00Z", "created_at=2025-13-31T10:00:00Z", "assignee_id=" + uuid.NewString(),
		"priority=9223372036854775808", "title=%ff%fe", "cursor=" + token, "sort=title,-due_date&cursor=" + token,
		"sort=title,-due_date&cursor=" + token + "x", "=&&=x;a=b", "%zz=1", "title=\x00",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, _ := url.ParseQuery(raw) // what it could parse, as a server would see
		s, err := query.Parse(values, tasks, fuzzScope)
		if err != nil {
			var e *sdk.Error
			if !errors.As(err, &e) || (e.Kind != sdk.KindInvalidQuery && e.Kind != sdk.KindInvalidCursor) || len(e.Fields) == 0 {
				t.Fatalf("Parse(%q): %v", raw, err)
			}
			return
		}
		if s.Limit < 1 || s.Limit > query.MaxLimit {
			t.Fatalf("Parse(%q): limit %d", raw, s.Limit)
		}
		for _, fl := range s.Filters {
			if d, _ := tasks.Lookup(fl.Field); !d.Filter && fl.Field != "project_id" {
				t.Fatalf("Parse(%q): filter on %q", raw, fl.Field)
			}
		}
		for _, k := range s.Sort {
			if d, _ := tasks.Lookup(k.Field); !d.Sort {
				t.Fatalf("Parse(%q): sort by %q", raw, k.Field)
			}
		}
		if _, err := query.SQL(s, 0); err != nil {
			t.Fatalf("Parse(%q) made a spec SQL refuses: %v", raw, err)
		}
	})
}

// FuzzCursor: decoding never panics, refuses with an invalid-cursor error on
// "cursor", and accepts only tokens whose values fit the order.
func FuzzCursor(f *testing.F) {
	s, _ := query.Parse(url.Values{"sort": {"title,-due_date"}}, tasks, fuzzScope)
	due := time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)
	made := map[string]bool{}
	for _, last := range []map[string]any{
		lastRow,
		{"title": "", "due_date": due, "id": uuid.Nil},
		{"title": "ünïcode \"quoted\" <tag>", "due_date": &due, "id": uuid.Max},
	} {
		token, err := s.Cursor(last)
		if err != nil {
			f.Fatal(err)
		}
		made[token] = true
		f.Add(token)
		f.Add(token[:len(token)/2])
	}
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, token string) {
		got, err := query.Parse(url.Values{"sort": {"title,-due_date"}, "cursor": {token}}, tasks, fuzzScope)
		if err != nil {
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.KindInvalidCursor || len(e.Fields) != 1 || e.Fields[0].Field != "cursor" {
				t.Fatalf("cursor %q: %v", token, err)
			}
			return
		}
		if token == "" {
			return
		}
		if len(got.After) != 3 || got.After[2] == nil {
			t.Fatalf("cursor %q: accepted with values %v", token, got.After)
		}
		if _, err := query.SQL(got, 0); err != nil {
			t.Fatalf("cursor %q: %v", token, err)
		}
	})
}
