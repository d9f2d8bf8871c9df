package listquery

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A cursor token is base64url (no padding) of
//
//	version (1 byte) | shape (16 bytes) | values (JSON array of strings and nulls) | HMAC-SHA256 (32 bytes)
//
// The shape is a hash of the list, order, filters and reserved parameters the
// cursor was made for; the values are the last row's sort-key values in text
// form. The MAC covers the rest: with a secret key, clients can carry cursors
// but not forge or edit them; the values are not secret (the client saw that
// row).
const (
	cursorVersion = 1
	shapeLen      = 16
	macLen        = sha256.Size
	minKeyLen     = 32
	maxCursorLen  = 16 << 10 // refuse before decoding: verifying costs a hash of it
	macContext    = "atrium/spec cursor\x00"
)

var base64URL = base64.RawURLEncoding.Strict()

// Codec makes and verifies cursors. For cursors to keep working its key must
// be the same on every replica and survive restarts; rotating it invalidates
// outstanding cursors, and clients start again.
type Codec struct {
	key []byte
}

// NewCodec returns a Codec signing with key, which needs at least 32 bytes.
func NewCodec(key []byte) (*Codec, error) {
	if len(key) < minKeyLen {
		return nil, fmt.Errorf("listquery: a cursor key needs at least %d bytes, got %d", minKeyLen, len(key))
	}
	return &Codec{key: bytes.Clone(key)}, nil
}

// Next returns the cursor of the page after the row whose values last holds,
// keyed by API field name: every field of s.Order(f), tiebreak included.
// Values may be what the caller scanned (see formatValue).
func (c *Codec) Next(s Spec, f Fields, last map[string]any) (string, error) {
	order := s.Order(f)
	texts := make([]*string, len(order))
	for i, k := range order {
		d, known := f.byName[k.Field]
		v, ok := last[k.Field]
		if !known || !ok {
			return "", fmt.Errorf("list %s: no value for sort key %q", f.list, k.Field)
		}
		text, null, err := formatValue(d.Type, v)
		if err == nil && null && !d.Nullable {
			err = errors.New("is NULL")
		}
		if err == nil && !null {
			_, err = parseValue(d, text)
		}
		if err != nil {
			return "", fmt.Errorf("list %s: cursor value of %q: %w", f.list, k.Field, err)
		}
		if !null {
			texts[i] = &text
		}
	}
	body, err := json.Marshal(texts)
	if err != nil {
		return "", fmt.Errorf("listquery: encode cursor: %w", err)
	}
	shape := s.shape(f)
	payload := append(append([]byte{cursorVersion}, shape[:]...), body...)
	return base64URL.EncodeToString(append(payload, c.mac(payload)...)), nil
}

// Decode verifies token and returns the position it holds. It must have been
// made by a Codec with the same key, for the same list, order, filters and
// reserved parameters as s; anything else is an *Error of Fault BadCursor.
func (c *Codec) Decode(token string, s Spec, f Fields) (*Cursor, error) {
	const foreign = "is not a cursor of this list"
	if len(token) > maxCursorLen {
		return nil, cursorError(foreign)
	}
	raw, err := base64URL.DecodeString(token)
	// The decoder skips line breaks; re-encoding makes the token canonical.
	if err != nil || len(raw) < 1+shapeLen+macLen || base64URL.EncodeToString(raw) != token {
		return nil, cursorError(foreign)
	}
	payload, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(mac, c.mac(payload)) || payload[0] != cursorVersion {
		return nil, cursorError(foreign)
	}
	if shape := s.shape(f); !bytes.Equal(payload[1:1+shapeLen], shape[:]) {
		return nil, cursorError("was made for a different list, sort or filter; start again without it")
	}
	var texts []*string
	if err := json.Unmarshal(payload[1+shapeLen:], &texts); err != nil {
		return nil, cursorError(foreign)
	}
	values := make([]any, len(texts))
	for i, t := range texts {
		if t != nil {
			values[i] = *t
		}
	}
	// MACed yet not fitting: the list's fields changed since, or the key
	// is not secret (plugins).
	if values, err = cursorValues(values, s.Order(f), f); err != nil {
		return nil, cursorError(foreign)
	}
	return &Cursor{Values: values}, nil
}

// Paginate trims rows, fetched with one row more than s.PageSize() (as SQL
// asks), to one page, and returns the cursor of the next page: "" when there
// is none. values gives a row's sort-key values, as for Next.
func Paginate[T any](c *Codec, s Spec, f Fields, rows []T, values func(T) map[string]any) ([]T, string, error) {
	n := s.PageSize()
	if len(rows) <= n {
		return rows, "", nil
	}
	if c == nil {
		return nil, "", errors.New("listquery: Paginate needs a Codec to continue a list")
	}
	next, err := c.Next(s, f, values(rows[n-1]))
	if err != nil {
		return nil, "", err
	}
	return rows[:n], next, nil
}

func (c *Codec) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte(macContext))
	h.Write(payload)
	return h.Sum(nil)
}

// shape identifies what a cursor's position is a position in: the list, the
// order, the filters (as sets: neither their order nor the order of "one of"
// values matters) and the reserved parameters. The limit is left out: a
// client may change the page size between pages.
//
// The layout is that of the core's cursors before the engines merged (Op: 1
// for one value, 2 for "one of"), so cursors in flight survive the upgrade.
func (s Spec) shape(f Fields) [shapeLen]byte {
	type filter struct {
		Field  string
		Op     uint8
		Values []string
	}
	filters := make([]filter, len(s.Filters))
	for i, fl := range s.Filters {
		d := f.byName[fl.Field]
		texts := make([]string, len(fl.Values))
		for j, v := range fl.Values {
			if t, _, err := formatValue(d.Type, v); err == nil {
				texts[j] = t
			} else {
				texts[j] = fmt.Sprint(v)
			}
		}
		slices.Sort(texts)
		filters[i] = filter{Field: fl.Field, Op: uint8(min(len(texts), 2)), Values: texts}
	}
	slices.SortFunc(filters, func(a, b filter) int {
		return cmp.Or(strings.Compare(a.Field, b.Field), cmp.Compare(a.Op, b.Op), slices.Compare(a.Values, b.Values))
	})
	b, _ := json.Marshal(struct {
		Resource string
		Order    []SortKey
		Filters  []filter
		Extra    string
	}{f.list, s.Order(f), filters, s.extra})
	sum := sha256.Sum256(b)
	return [shapeLen]byte(sum[:shapeLen])
}

func cursorError(msg string) *Error {
	return &Error{
		Fault:   BadCursor,
		Message: "the cursor is not valid for this list",
		Fields:  []FieldError{{Field: "cursor", Message: msg}},
	}
}
