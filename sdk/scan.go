package sdk

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

var errNull = errors.New("is NULL; scan into a pointer to a pointer (say **string) to accept NULL")

// scanValue stores one wire value into dest.
func scanValue(dest any, v *wire.Value) error {
	null := isNull(v)
	switch d := dest.(type) {
	case *any:
		*d = v.Go()
		return nil
	case sql.Scanner:
		return d.Scan(v.Go())
	case *[]byte:
		if null {
			*d = nil
			return nil
		}
	case *json.RawMessage:
		if null {
			*d = nil
			return nil
		}
	}
	if null {
		rv := reflect.ValueOf(dest)
		if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Pointer {
			rv.Elem().SetZero() // **T gets a nil *T
			return nil
		}
		return errNull
	}
	if ok, err := scanNotNull(dest, v.Go()); ok || err != nil {
		return err
	}
	// **T: allocate a T, scan into it, and point *dest at it.
	rv := reflect.ValueOf(dest)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Pointer {
		target := reflect.New(rv.Elem().Type().Elem())
		if ok, err := scanNotNull(target.Interface(), v.Go()); !ok || err != nil {
			if err == nil {
				err = fmt.Errorf("cannot scan into %T", dest)
			}
			return err
		}
		rv.Elem().Set(target)
		return nil
	}
	return fmt.Errorf("cannot scan into %T", dest)
}

func isNull(v *wire.Value) bool {
	switch v.GetKind().(type) {
	case nil, *wire.Value_Null:
		return true
	}
	return false
}

// scanNotNull stores src (a value of Value.Go) into dest when dest is one of
// the supported pointer types; ok is false for other types.
func scanNotNull(dest, src any) (ok bool, err error) {
	switch d := dest.(type) {
	case *string:
		switch s := src.(type) {
		case string:
			*d = s
		case []byte:
			*d = string(s)
		default:
			return true, mismatch(src, dest)
		}
	case *int64:
		*d, err = toInt(src, dest, math.MinInt64, math.MaxInt64)
	case *int:
		var n int64
		n, err = toInt(src, dest, math.MinInt, math.MaxInt)
		*d = int(n)
	case *int32:
		var n int64
		n, err = toInt(src, dest, math.MinInt32, math.MaxInt32)
		*d = int32(n) //nolint:gosec // toInt checked the range
	case *float64:
		switch s := src.(type) {
		case float64:
			*d = s
		case int64:
			*d = float64(s)
		case string: // numeric
			if *d, err = strconv.ParseFloat(s, 64); err != nil {
				return true, mismatch(src, dest)
			}
		default:
			return true, mismatch(src, dest)
		}
	case *bool:
		s, isBool := src.(bool)
		if !isBool {
			return true, mismatch(src, dest)
		}
		*d = s
	case *time.Time:
		s, isTime := src.(time.Time)
		if !isTime {
			return true, mismatch(src, dest)
		}
		*d = s
	case *[]byte:
		switch s := src.(type) {
		case []byte:
			*d = s
		case string:
			*d = []byte(s)
		default:
			return true, mismatch(src, dest)
		}
	case *json.RawMessage:
		switch s := src.(type) {
		case []byte:
			*d = s
		case string:
			*d = json.RawMessage(s)
		default:
			return true, mismatch(src, dest)
		}
	default:
		return false, nil
	}
	return true, err
}

// toInt accepts an integer, or a numeric column's string holding one.
func toInt(src, dest any, lo, hi int64) (int64, error) {
	var n int64
	switch s := src.(type) {
	case int64:
		n = s
	case string:
		var err error
		if n, err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, mismatch(src, dest)
		}
	default:
		return 0, mismatch(src, dest)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("value %d overflows %T", n, dest)
	}
	return n, nil
}

func mismatch(src, dest any) error {
	return fmt.Errorf("cannot scan %s into %T", kindOf(src), dest)
}

func kindOf(src any) string {
	switch src.(type) {
	case bool:
		return "a bool"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case string:
		return "a string"
	case []byte:
		return "bytes"
	case time.Time:
		return "a timestamp"
	}
	return fmt.Sprintf("%T", src)
}
