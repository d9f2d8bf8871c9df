package sdk

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

type state string

type uuidLike [16]byte

func (u uuidLike) String() string { return "stringer" }

type valuer struct{ v string }

func (v valuer) Value() (driver.Value, error) { return "valued:" + v.v, nil }

// roundTrip sends arg the way a plugin's SQL argument goes to the host, and
// back the way a result column comes to the plugin.
func roundTrip(t *testing.T, arg any) *wire.Value {
	t.Helper()
	v, err := wire.ValueOf(arg)
	if err != nil {
		t.Fatalf("ValueOf(%#v): %v", arg, err)
	}
	back, err := wire.ValueOf(v.Go())
	if err != nil {
		t.Fatalf("ValueOf(Go()): %v", err)
	}
	return back
}

func TestValuesRoundTrip(t *testing.T) {
	when := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600))
	str, n := "s", int64(-5)
	var nilStr *string
	tests := []struct {
		name string
		arg  any
		dest func() any // a fresh destination
		want any        // what the destination holds after Scan
	}{
		{"nil into *any", nil, func() any { return new(any) }, nil},
		{"bool", true, func() any { return new(bool) }, true},
		{"int", 42, func() any { return new(int) }, 42},
		{"int32", int32(-7), func() any { return new(int32) }, int32(-7)},
		{"int64", int64(1) << 40, func() any { return new(int64) }, int64(1) << 40},
		{"uint8", uint8(200), func() any { return new(int64) }, int64(200)},
		{"float64", 2.5, func() any { return new(float64) }, 2.5},
		{"float32", float32(0.5), func() any { return new(float64) }, 0.5},
		{"int into float", int64(3), func() any { return new(float64) }, 3.0},
		{"string", "héllo", func() any { return new(string) }, "héllo"},
		{"named string", state("open"), func() any { return new(string) }, "open"},
		{"bytes", []byte{0, 1, 2}, func() any { return new([]byte) }, []byte{0, 1, 2}},
		{"raw json", json.RawMessage(`{"a":1}`), func() any { return new(json.RawMessage) }, json.RawMessage(`{"a":1}`)},
		{"json as string", json.RawMessage(`[1]`), func() any { return new(string) }, "[1]"},
		{"time in UTC", when, func() any { return new(time.Time) }, when.UTC()},
		{"pointer", &str, func() any { return new(string) }, "s"},
		{"pointer to int64", &n, func() any { return new(int64) }, int64(-5)},
		{"nil pointer is NULL", nilStr, func() any { return new(*string) }, (*string)(nil)},
		{"nil bytes are NULL", []byte(nil), func() any { return new([]byte) }, []byte(nil)},
		{"value into **string", "x", func() any { return new(*string) }, ptr("x")},
		{"value into **time", when, func() any { return new(*time.Time) }, ptr(when.UTC())},
		{"numeric string into float", "12.75", func() any { return new(float64) }, 12.75},
		{"numeric string into int64", "12", func() any { return new(int64) }, int64(12)},
		{"uuid bytes", [16]byte{0x12, 0x34, 15: 0xff}, func() any { return new(string) }, "12340000-0000-0000-0000-0000000000ff"},
		{"driver.Valuer", valuer{"a"}, func() any { return new(string) }, "valued:a"},
		{"fmt.Stringer", uuidLike{}, func() any { return new(string) }, "stringer"},
		{"sql.Scanner", "ns", func() any { return new(sql.NullString) }, sql.NullString{String: "ns", Valid: true}},
		{"NULL into sql.Scanner", nil, func() any { return new(sql.NullString) }, sql.NullString{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := tt.dest()
			if err := scanValue(dest, roundTrip(t, tt.arg)); err != nil {
				t.Fatalf("scan: %v", err)
			}
			if got := deref(dest); !equal(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestScanMismatch(t *testing.T) {
	tests := []struct {
		name string
		src  any
		dest any
		want string
	}{
		{"int into string", int64(1), new(string), "cannot scan an integer into *string"},
		{"string into bool", "t", new(bool), "cannot scan a string into *bool"},
		{"text into int", "abc", new(int64), "cannot scan a string into *int64"},
		{"NULL into string", nil, new(string), "is NULL"},
		{"overflow", int64(1) << 40, new(int32), "overflows *int32"},
		{"unsupported", "x", new(complex64), "cannot scan into *complex64"},
		{"bool into **string", true, new(*string), "cannot scan a bool into *string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := wire.ValueOf(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			err = scanValue(tt.dest, v)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestValueOfRejects(t *testing.T) {
	for _, arg := range []any{struct{}{}, uint64(1) << 63, []int{1}, map[string]int{}} {
		if _, err := wire.ValueOf(arg); err == nil {
			t.Errorf("ValueOf(%#v) succeeded", arg)
		}
	}
	if _, err := statement("x", []any{1, struct{}{}}); err == nil || !strings.Contains(err.Error(), "argument $2") {
		t.Errorf("statement error %v should name the argument", err)
	}
}

func TestRows(t *testing.T) {
	rs := &wire.ResultSet{Columns: []string{"a"}, Rows: []*wire.Row{
		{Values: []*wire.Value{mustValue(t, int64(1))}},
		{Values: []*wire.Value{mustValue(t, int64(2))}},
	}}
	rows := newRows(rs)
	var sum int
	for rows.Next() {
		var a int
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		sum += a
	}
	if sum != 3 || rows.Len() != 2 || rows.Columns()[0] != "a" {
		t.Errorf("sum %d", sum)
	}
	if err := newRows(rs).Scan(new(int)); err == nil {
		t.Error("Scan before Next succeeded")
	}
	r := newRows(rs)
	r.Next()
	if err := r.Scan(new(int), new(int)); err == nil || !strings.Contains(err.Error(), "2 destinations for 1 columns") {
		t.Errorf("err = %v", err)
	}
	row := &Row{rows: newRows(&wire.ResultSet{})}
	if err := row.Scan(new(int)); !errors.Is(err, ErrNotFound) {
		t.Errorf("no rows: %v", err)
	}
}

func mustValue(t *testing.T, v any) *wire.Value {
	t.Helper()
	w, err := wire.ValueOf(v)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func ptr[T any](v T) *T { return &v }

func deref(dest any) any {
	switch d := dest.(type) {
	case *any:
		return *d
	case *bool:
		return *d
	case *int:
		return *d
	case *int32:
		return *d
	case *int64:
		return *d
	case *float64:
		return *d
	case *string:
		return *d
	case *[]byte:
		return *d
	case *json.RawMessage:
		return *d
	case *time.Time:
		return *d
	case **string:
		return *d
	case **time.Time:
		return *d
	case *sql.NullString:
		return *d
	}
	return dest
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && string(x) == string(y) && (x == nil) == (y == nil)
	case json.RawMessage:
		y, ok := b.(json.RawMessage)
		return ok && string(x) == string(y)
	case *string:
		y, ok := b.(*string)
		return ok && (x == nil) == (y == nil) && (x == nil || *x == *y)
	case *time.Time:
		y, ok := b.(*time.Time)
		return ok && (x == nil) == (y == nil) && (x == nil || x.Equal(*y))
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y) && x.Location() == y.Location()
	}
	return a == b
}
