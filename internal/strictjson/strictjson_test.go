package strictjson

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type target struct {
	Name  string    `json:"name"`
	Count int       `json:"count"`
	Due   time.Time `json:"due"`
	Inner struct {
		Flag bool `json:"flag"`
	} `json:"inner"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		fault                   Fault // 0: accepted
		field, message          string
	}{
		{"ok", "application/json", `{"name":"a","count":2,"inner":{"flag":true}}`, 0, "", ""},
		{"no content type", "", `{"name":"a"}`, 0, "", ""},
		{"problem+json", "application/merge-patch+json; charset=utf-8", `{"name":"a"}`, 0, "", ""},
		{"form", "application/x-www-form-urlencoded", `name=a`, Unsupported, "", "the request body must be application/json"},
		{"bad content type", "nonsense;;", `{}`, Unsupported, "", ""},
		{"empty", "", "  ", Malformed, "", "the request body is empty; a JSON object is required"},
		{"truncated", "", `{"name":`, Malformed, "", ""},
		{"syntax", "", `{"name" "a"}`, Malformed, "", "malformed JSON at byte 9"},
		{"trailing data", "", `{"name":"a"} {}`, Malformed, "", "the request body must hold a single JSON value"},
		{"not an object", "", `[1]`, Malformed, "", "the request body must be an object, not array"},
		{"unknown field, then broken", "", `{"nme" "a"}`, Malformed, "", ""},
		{"wrong type, then broken", "", `{"count":"two",}`, Malformed, "", ""},
		{"unknown field", "", `{"nme":"a"}`, Invalid, "nme", "unknown field"},
		{"wrong type", "", `{"count":"two"}`, Invalid, "count", "must be an integer, not string"},
		{"nested wrong type", "", `{"inner":{"flag":1}}`, Invalid, "inner.flag", "must be a boolean, not number"},
		{"bad time", "", `{"due":"tomorrow"}`, Invalid, "body", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v target
			err := Decode(tt.contentType, strings.NewReader(tt.body), &v)
			if tt.fault == 0 {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Fault != tt.fault || e.Field != tt.field || (tt.message != "" && e.Message != tt.message) {
				t.Errorf("err = %#v, want fault %d on %q: %q", err, tt.fault, tt.field, tt.message)
			}
		})
	}
}

func TestDecodeTooLarge(t *testing.T) {
	body := http.MaxBytesReader(httptest.NewRecorder(), nopCloser{strings.NewReader(`{"name":"` + strings.Repeat("x", 100) + `"}`)}, 10)
	var e *Error
	if err := Decode("", body, &target{}); !errors.As(err, &e) || e.Fault != TooLarge || e.Limit != 10 {
		t.Errorf("err = %#v", err)
	}
}

func TestDecodeNeedsPointer(t *testing.T) {
	var e *Error
	if err := Decode("", strings.NewReader(`{}`), target{}); err == nil || errors.As(err, &e) {
		t.Errorf("a non-pointer is the caller's bug, not the client's: %v", err)
	}
}

// FuzzDecode: no body panics or fails with anything but a client fault.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"inner":{"flag":true}}`, `[`, `{"count":1e400}`, "\xff", `{"name":"a"}x`, `{"name":"\ud800"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var v target
		err := Decode("application/json", strings.NewReader(body), &v)
		var e *Error
		if err != nil && (!errors.As(err, &e) || (e.Fault != Malformed && e.Fault != Invalid)) {
			t.Fatalf("body %q: %v is not a client fault", body, err)
		}
	})
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func TestDecodeBytesIsDecode(t *testing.T) {
	for _, body := range []string{`{"name":"a"}`, `{"nme":"a"}`, `[1]`, ``} {
		var a, b target
		errA, errB := Decode("", strings.NewReader(body), &a), DecodeBytes("", []byte(body), &b)
		if a != b || (errA == nil) != (errB == nil) || (errA != nil && errA.Error() != errB.Error()) {
			t.Errorf("%q: Decode %v %v, DecodeBytes %v %v", body, a, errA, b, errB)
		}
	}
	if err := DecodeBytes("text/plain", []byte(`{}`), &target{}); err == nil {
		t.Error("DecodeBytes checks the content type too")
	}
}
