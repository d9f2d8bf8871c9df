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

func TestBind(t *testing.T) {
	tests := []struct {
		name, body, field, message string
	}{
		{"ok", `{"name":"a","count":2,"inner":{"flag":true}}`, "", ""},
		{"empty", "  ", "body", "a JSON body is required"},
		{"malformed", `{"name":`, "body", "malformed JSON: unexpected end"},
		{"syntax", `{"name" "a"}`, "body", "malformed JSON at byte 9"},
		{"unknown field", `{"nme":"a"}`, "nme", "unknown field"},
		{"wrong type", `{"count":"two"}`, "count", "must be an integer"},
		{"nested wrong type", `{"inner":{"flag":1}}`, "inner.flag", "must be a boolean"},
		{"trailing data", `{"name":"a"} {}`, "body", "unexpected data after the JSON value"},
		{"bad time", `{"due":"tomorrow"}`, "body", ""},
		{"not an object", `[1]`, "body", "must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v bindTarget
			err := bindJSON([]byte(tt.body), &v)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalid || len(e.Fields) != 1 || e.Fields[0].Field != tt.field ||
				(tt.message != "" && e.Fields[0].Message != tt.message) {
				t.Errorf("err = %#v", err)
			}
		})
	}
	if err := bindJSON([]byte(`{}`), bindTarget{}); !errors.Is(err, ErrInternal) {
		t.Errorf("non-pointer: %v", err)
	}
}

// FuzzBind checks that no body makes Bind panic or fail with anything but
// an Invalid error.
func FuzzBind(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"inner":{"flag":true}}`, `[`, `{"count":1e400}`, "\xff", `{"name":"a"}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v bindTarget
		err := bindJSON(body, &v)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("body %q: %v is not an Invalid error", body, err)
		}
	})
}
