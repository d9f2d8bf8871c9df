package listquery

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

const dateLayout = "2006-01-02"

// parseValue turns the text form of a value into the Go type of its field.
// The error's message is written for the client.
func parseValue(f Field, s string) (any, error) {
	switch f.Type {
	case String:
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return nil, errors.New("must be UTF-8 text without NUL bytes")
		}
		return s, nil
	case Enum:
		if !slices.Contains(f.Values, s) {
			return nil, fmt.Errorf("must be one of %s", strings.Join(f.Values, ", "))
		}
		return s, nil
	case UUID:
		id, err := uuid.Parse(s)
		if err != nil {
			return nil, errors.New("must be a UUID")
		}
		return id.String(), nil
	case Time:
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, errors.New("must be an RFC 3339 time, for example 2025-01-31T09:00:00Z")
		}
		return t.UTC(), nil
	case Date:
		d, err := time.Parse(dateLayout, s)
		if err != nil {
			return nil, errors.New("must be a date, for example 2025-01-31")
		}
		return d.Format(dateLayout), nil
	case Int:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, errors.New("must be a whole number")
		}
		return n, nil
	case Bool:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, errors.New("must be true or false")
	}
	return nil, fmt.Errorf("has unknown type %d", f.Type)
}

// formatValue is the inverse of parseValue, lenient about the Go type so that
// callers can pass what they scanned: strings and named string types, any
// integer, bools, time.Time (a Date keeps only its UTC date), driver.Valuers
// such as sql.NullTime, fmt.Stringers such as uuid.UUID, and pointers to any
// of them, where nil is NULL.
func formatValue(t Type, v any) (text string, null bool, err error) {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "", true, nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return "", true, nil
	}
	v = rv.Interface()
	switch x := v.(type) {
	case time.Time:
		if t == Date {
			return x.UTC().Format(dateLayout), false, nil
		}
		return x.UTC().Format(time.RFC3339Nano), false, nil
	case uuid.UUID:
		return x.String(), false, nil
	case driver.Valuer:
		dv, err := x.Value()
		if err != nil {
			return "", false, err
		}
		if _, again := dv.(driver.Valuer); again {
			return "", false, fmt.Errorf("%T has no plain value", v)
		}
		return formatValue(t, dv)
	}
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), false, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), false, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), false, nil
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), false, nil
	}
	if s, ok := v.(fmt.Stringer); ok {
		return s.String(), false, nil
	}
	return "", false, fmt.Errorf("values of type %T are not supported", v)
}

// canonical converts v to the Go type of its field; nil is NULL.
func canonical(f Field, v any) (any, error) {
	s, null, err := formatValue(f.Type, v)
	if err != nil || null {
		return nil, err
	}
	return parseValue(f, s)
}
