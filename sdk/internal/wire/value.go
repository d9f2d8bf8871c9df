package wire

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// Null is the wire form of SQL NULL; it is shared because it never changes.
var Null = &Value{Kind: &Value_Null{Null: true}}

// ValueOf converts a Go value to its wire form. It accepts nil, bool, every
// integer type that fits in int64, float32/64, string, []byte,
// json.RawMessage, time.Time, named types of those kinds, and pointers to any
// of them (a nil pointer is NULL). A driver.Valuer or, failing that, a
// fmt.Stringer is reduced to the value it produces, and a [16]byte (the form
// pgx gives a uuid) to the UUID's string.
func ValueOf(v any) (*Value, error) { return valueOf(v, 0) }

func valueOf(v any, depth int) (*Value, error) {
	switch x := v.(type) {
	case nil:
		return Null, nil
	case string:
		return &Value{Kind: &Value_String_{String_: x}}, nil
	case int64:
		return &Value{Kind: &Value_Int{Int: x}}, nil
	case int:
		return &Value{Kind: &Value_Int{Int: int64(x)}}, nil
	case int32:
		return &Value{Kind: &Value_Int{Int: int64(x)}}, nil
	case bool:
		return &Value{Kind: &Value_Bool{Bool: x}}, nil
	case float64:
		return &Value{Kind: &Value_Float{Float: x}}, nil
	case []byte:
		if x == nil {
			return Null, nil
		}
		return &Value{Kind: &Value_Bytes{Bytes: x}}, nil
	case json.RawMessage:
		if x == nil {
			return Null, nil
		}
		return &Value{Kind: &Value_Bytes{Bytes: x}}, nil
	case time.Time:
		return &Value{Kind: &Value_Time{Time: timestamppb.New(x)}}, nil
	}
	return valueOfReflect(v, depth)
}

// valueOfReflect handles the rarer shapes: named types, pointers, valuers.
func valueOfReflect(v any, depth int) (*Value, error) {
	if depth > 4 {
		return nil, fmt.Errorf("value of type %T: too many indirections", v)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return Null, nil
		}
	}
	if dv, ok := v.(driver.Valuer); ok {
		x, err := dv.Value()
		if err != nil {
			return nil, fmt.Errorf("value of type %T: %w", v, err)
		}
		return valueOf(x, depth+1)
	}
	switch rv.Kind() {
	case reflect.Pointer:
		return valueOf(rv.Elem().Interface(), depth+1)
	case reflect.Bool:
		return &Value{Kind: &Value_Bool{Bool: rv.Bool()}}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &Value{Kind: &Value_Int{Int: rv.Int()}}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("value %d of type %T overflows int64", u, v)
		}
		return &Value{Kind: &Value_Int{Int: int64(u)}}, nil
	case reflect.Float32, reflect.Float64:
		return &Value{Kind: &Value_Float{Float: rv.Float()}}, nil
	case reflect.String:
		return &Value{Kind: &Value_String_{String_: rv.String()}}, nil
	case reflect.Slice:
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			if rv.IsNil() {
				return Null, nil
			}
			return &Value{Kind: &Value_Bytes{Bytes: rv.Bytes()}}, nil
		}
	}
	if s, ok := v.(fmt.Stringer); ok {
		return &Value{Kind: &Value_String_{String_: s.String()}}, nil
	}
	if rv.Kind() == reflect.Array && rv.Len() == 16 && rv.Type().Elem().Kind() == reflect.Uint8 {
		var u [16]byte
		reflect.Copy(reflect.ValueOf(u[:]), rv)
		return &Value{Kind: &Value_String_{String_: uuidString(u)}}, nil
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

// Go returns the Go form of a wire value: nil, bool, int64, float64, string,
// []byte or time.Time (in UTC). A nil *Value is NULL.
func (x *Value) Go() any {
	switch k := x.GetKind().(type) {
	case *Value_Bool:
		return k.Bool
	case *Value_Int:
		return k.Int
	case *Value_Float:
		return k.Float
	case *Value_String_:
		return k.String_
	case *Value_Bytes:
		return k.Bytes
	case *Value_Time:
		return k.Time.AsTime()
	}
	return nil
}

// Values converts a list of Go values, naming the position of a bad one.
func Values(args []any) ([]*Value, error) {
	if len(args) == 0 {
		return nil, nil
	}
	out := make([]*Value, len(args))
	for i, a := range args {
		v, err := ValueOf(a)
		if err != nil {
			return nil, fmt.Errorf("argument $%d: %w", i+1, err)
		}
		out[i] = v
	}
	return out, nil
}

// GoValues is the inverse of Values.
func GoValues(vs []*Value) []any {
	if len(vs) == 0 {
		return nil
	}
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v.Go()
	}
	return out
}

func uuidString(u [16]byte) string {
	const hexDigits = "0123456789abcdef"
	b := make([]byte, 0, 36)
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return string(b)
}
