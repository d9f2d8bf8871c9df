package spec_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

// FuzzParse: whatever the query string, Parse either returns a spec that fits
// the allow-list or a client error naming a parameter; it never panics.
func FuzzParse(f *testing.F) {
	c := newCodec(f, 0)
	opts := spec.Options{Codec: c, Reserved: []string{"since"}, Filters: []spec.Filter{spec.Equal("project_id", uuid.Nil)}}
	s, _ := spec.Parse(url.Values{"sort": {"title,-due_date"}}, tasks, opts)
	token, _ := c.Next(s, tasks, lastRow)
	for _, q := range []string{
		"", "limit=7", "limit=-1", "limit=0x10", "sort=-created_at,title", "sort=--title", "sort=,", "status=todo&status=doing",
		"due_date=2025-01-31T10:00:00Z", "due_date=2025-13-31T10:00:00Z", "assignee_id=" + uuid.NewString(), "urgent=false",
		"priority=9223372036854775808", "title=%ff%fe", "since=1&since=2", "cursor=" + token, "sort=title,-due_date&cursor=" + token,
		"sort=title,-due_date&cursor=" + token + "x", "=&&=x;a=b", "%zz=1", "title=\x00",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, _ := url.ParseQuery(raw) // what it could parse, as a server would see
		s, err := spec.Parse(values, tasks, opts)
		if err != nil {
			var e *kernel.Error
			if !errors.As(err, &e) || e.Kind != kernel.KindBadRequest || len(e.Fields) == 0 ||
				(!errors.Is(err, spec.ErrInvalidQuery) && !errors.Is(err, spec.ErrInvalidCursor)) {
				t.Fatalf("Parse(%q): %v", raw, err)
			}
			return
		}
		if n := s.PageSize(); n < 1 || n > spec.MaxLimit {
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
		if _, err := s.Normalize(tasks); err != nil {
			t.Fatalf("Parse(%q) made a spec Normalize refuses: %v", raw, err)
		}
	})
}

// FuzzDecodeCursor: the decoder never panics and accepts only tokens the
// codec itself signed.
func FuzzDecodeCursor(f *testing.F) {
	c := newCodec(f, 0)
	s := spec.Spec{Sort: []spec.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}}}
	due := time.Date(2025, 1, 31, 9, 0, 0, 0, time.UTC)
	signed := map[string]bool{}
	for i, last := range []map[string]any{
		lastRow,
		{"title": "", "due_date": due, "id": uuid.Nil},
		{"title": "ünïcode \"quoted\" <tag>", "due_date": &due, "id": uuid.Max},
	} {
		token, err := c.Next(s, tasks, last)
		if err != nil {
			f.Fatalf("row %d: %v", i, err)
		}
		signed[token] = true
		f.Add(token)
		f.Add(token[:len(token)/2])
	}
	foreign, _ := newCodec(f, 1).Next(s, tasks, lastRow)
	f.Add(foreign)
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		after, err := c.Decode(token, s, tasks)
		if err != nil {
			if !errors.Is(err, spec.ErrInvalidCursor) {
				t.Fatalf("Decode(%q): %v", token, err)
			}
			return
		}
		if !signed[token] {
			t.Fatalf("Decode accepted a token it did not sign: %q", token)
		}
		if len(after.Values) != 3 {
			t.Fatalf("Decode(%q): %d values", token, len(after.Values))
		}
	})
}
