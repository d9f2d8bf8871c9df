package listquery_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/internal/listquery"
)

// FuzzParse: whatever the query string, Parse returns either a spec that fits
// the allow-list and translates to SQL, or a client error naming a
// parameter; it never panics and never blames the caller (a 500) for the
// client's input.
func FuzzParse(f *testing.F) {
	c := newCodec(f, 0)
	opts := listquery.Options{Codec: c, Reserved: []string{"since"}, Filters: []listquery.Filter{listquery.Equal("project_id", uuid.Nil)}}
	s, _ := listquery.Parse(url.Values{"sort": {"title,-due_date"}}, tasks, opts)
	token, _ := c.Next(s, tasks, lastRow)
	for _, q := range []string{
		"", "limit=7", "limit=-1", "limit=0x10", "sort=-created_at,title", "sort=--title", "sort=,", "status=todo&status=doing",
		"created_at=2025-01-31T10:00:00Z", "created_at=2025-13-31T10:00:00Z", "due_date=2025-02-30", "assignee_id=" + uuid.NewString(),
		"urgent=false", "urgent=yes", "priority=9223372036854775808", "title=%ff%fe", "title=" + strings.Repeat("x", 1025),
		"since=1&since=2", "cursor=" + token, "sort=title,-due_date&cursor=" + token, "sort=title,-due_date&cursor=" + token + "x",
		"=&&=x;a=b", "%zz=1", "title=\x00",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, _ := url.ParseQuery(raw) // what it could parse, as a server would see
		s, err := listquery.Parse(values, tasks, opts)
		if err != nil {
			var e *listquery.Error
			if !errors.As(err, &e) || (e.Fault != listquery.BadQuery && e.Fault != listquery.BadCursor) || len(e.Fields) == 0 {
				t.Fatalf("Parse(%q): %v", raw, err)
			}
			return
		}
		if n := s.PageSize(); n < 1 || n > listquery.MaxLimit {
			t.Fatalf("Parse(%q): page size %d", raw, n)
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
		if _, err := listquery.SQL(s, tasks, "", 0); err != nil {
			t.Fatalf("Parse(%q) made a spec SQL refuses: %v", raw, err)
		}
	})
}

// FuzzCursor: decoding never panics, refuses with a BadCursor error on
// "cursor", and accepts only tokens the codec itself made, whose values then
// translate to SQL.
func FuzzCursor(f *testing.F) {
	c := newCodec(f, 0)
	s := listquery.Spec{Sort: []listquery.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}}}
	due := time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)
	made := map[string]bool{}
	for i, last := range []map[string]any{
		lastRow,
		{"title": "", "due_date": due, "id": uuid.Nil},
		{"title": "ünïcode \"quoted\" <tag>", "due_date": &due, "id": uuid.Max},
	} {
		token, err := c.Next(s, tasks, last)
		if err != nil {
			f.Fatalf("row %d: %v", i, err)
		}
		made[token] = true
		f.Add(token)
		f.Add(token[:len(token)/2])
	}
	foreign, _ := newCodec(f, 1).Next(s, tasks, lastRow)
	f.Add(foreign)
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, token string) {
		after, err := c.Decode(token, s, tasks)
		if err != nil {
			var e *listquery.Error
			if !errors.As(err, &e) || e.Fault != listquery.BadCursor || len(e.Fields) != 1 || e.Fields[0].Field != "cursor" {
				t.Fatalf("Decode(%q): %v", token, err)
			}
			return
		}
		if !made[token] {
			t.Fatalf("Decode accepted a token it did not make: %q", token)
		}
		if len(after.Values) != 3 || after.Values[2] == nil {
			t.Fatalf("Decode(%q): values %v", token, after.Values)
		}
		s := s
		s.After = after
		if _, err := listquery.SQL(s, tasks, "", 0); err != nil {
			t.Fatalf("Decode(%q): %v", token, err)
		}
	})
}
