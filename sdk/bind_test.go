package sdk

import (
	"errors"
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

// TestBind: a body that is not one JSON value of the right shape is 400
// malformed_json with no field; a well-formed body with a bad field is 422
// validation_failed naming it, as on the core's routes.
func TestBind(t *testing.T) {
	tests := []struct {
		name, body string
		kind       Kind
		field      string // the field named, for KindInvalid
		message    string // the field's message, or the error's for KindMalformedJSON
	}{
		{"ok", `{"name":"a","count":2,"inner":{"flag":true}}`, KindInternal, "", ""},
		{"empty", "  ", KindMalformedJSON, "", "the request body is empty; a JSON object is required"},
		{"malformed", `{"name":`, KindMalformedJSON, "", ""},
		{"syntax", `{"name" "a"}`, KindMalformedJSON, "", "malformed JSON at byte 9"},
		{"trailing data", `{"name":"a"} {}`, KindMalformedJSON, "", "the request body must hold a single JSON value"},
		{"not an object", `[1]`, KindMalformedJSON, "", "the request body must be an object"},
		{"unknown field", `{"nme":"a"}`, KindInvalid, "nme", "unknown field"},
		{"unknown field, then broken", `{"nme" "a"}`, KindMalformedJSON, "", ""},
		{"wrong type, then broken", `{"count":"two",}`, KindMalformedJSON, "", ""},
		{"wrong type", `{"count":"two"}`, KindInvalid, "count", "must be an integer"},
		{"nested wrong type", `{"inner":{"flag":1}}`, KindInvalid, "inner.flag", "must be a boolean"},
		{"bad time", `{"due":"tomorrow"}`, KindInvalid, "body", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v bindTarget
			err := bindJSON([]byte(tt.body), &v)
			if tt.name == "ok" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind {
				t.Fatalf("err = %#v, want kind %s", err, tt.kind)
			}
			if tt.kind == KindMalformedJSON {
				if len(e.Fields) != 0 || (tt.message != "" && e.Message != tt.message) {
					t.Errorf("err = %#v", err)
				}
				return
			}
			if len(e.Fields) != 1 || e.Fields[0].Field != tt.field || (tt.message != "" && e.Fields[0].Message != tt.message) {
				t.Errorf("err = %#v", err)
			}
		})
	}
	if err := bindJSON([]byte(`{}`), bindTarget{}); !errors.Is(err, ErrInternal) {
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
		err := bindJSON(body, &v)
		if err != nil && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMalformedJSON) {
			t.Fatalf("body %q: %v is neither malformed JSON nor an Invalid error", body, err)
		}
	})
}
