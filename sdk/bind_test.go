package sdk

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

type bindTarget struct {
	Name  string    `json:"name"`
	Count int       `json:"count"`
	Due   time.Time `json:"due"`
	Inner struct {
		Flag bool `json:"flag"`
	} `json:"inner"`
}

// TestBind: each of the shared decoder's faults (internal/strictjson, which
// tests the bodies themselves) is the kind whose answer a core route gives:
// 415, 400 malformed_json with no field, 422 validation_failed naming it.
func TestBind(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		kind                    Kind
		field                   string // the field named, for KindInvalid
	}{
		{"ok", "application/json", `{"name":"a","count":2,"inner":{"flag":true}}`, KindInternal, ""},
		{"not JSON", "text/plain", `{"name":"a"}`, KindUnsupported, ""},
		{"empty", "", "  ", KindMalformedJSON, ""},
		{"malformed", "", `{"name":`, KindMalformedJSON, ""},
		{"trailing data", "", `{"name":"a"} {}`, KindMalformedJSON, ""},
		{"not an object", "", `[1]`, KindMalformedJSON, ""},
		{"unknown field, then broken", "", `{"nme" "a"}`, KindMalformedJSON, ""},
		{"unknown field", "", `{"nme":"a"}`, KindInvalid, "nme"},
		{"nested wrong type", "", `{"inner":{"flag":1}}`, KindInvalid, "inner.flag"},
		{"bad time", "", `{"due":"tomorrow"}`, KindInvalid, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v bindTarget
			err := bindJSON(tt.contentType, []byte(tt.body), &v)
			if tt.name == "ok" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind || e.Message == "" {
				t.Fatalf("err = %#v, want kind %s", err, tt.kind)
			}
			var named []string
			for _, f := range e.Fields {
				named = append(named, f.Field)
			}
			if want := []string{tt.field}; (tt.field == "" && len(named) != 0) || (tt.field != "" && fmt.Sprint(named) != fmt.Sprint(want)) {
				t.Errorf("fields %v, want %q", named, tt.field)
			}
		})
	}
	if err := bindJSON("", []byte(`{}`), bindTarget{}); !errors.Is(err, ErrInternal) {
		t.Errorf("non-pointer: %v", err)
	}
}

// FuzzBind checks that no body makes Bind panic or fail with anything but
// a malformed-JSON or an Invalid error.
func FuzzBind(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"inner":{"flag":true}}`, `[`, `{"count":1e400}`, "\xff", `{"name":"a"}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v bindTarget
		err := bindJSON("application/json", body, &v)
		if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMalformedJSON) {
			t.Fatalf("body %q: %v is neither malformed JSON nor an Invalid error", body, err)
		}
	})
}
