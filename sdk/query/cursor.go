package query

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atriumhq/atrium/sdk"
)

// A cursor is base64url (no padding) of
//
//	version (1 byte) | shape (16 bytes) | values (JSON array of strings and nulls) | checksum (16 bytes)
//
// The shape is a hash of the list name, the order and the filters the cursor
// was made for; the values are the last row's sort-key values in text form;
// the checksum (SHA-256 of the rest, truncated) catches corruption and
// truncation. It is not a signature: see the package comment.
const (
	cursorVersion = 1
	shapeLen      = 16
	sumLen        = 16
	maxCursorLen  = 4 << 10 // characters; longer is refused before decoding
	sumContext    = "atrium/sdk/query cursor\x00"
)

var base64URL = base64.RawURLEncoding.Strict()

// Cursor returns the cursor of the page after the row whose sort-key values
// last holds, keyed by field name: every field of s.Order(), tiebreak
// included. Values may be what the repository scanned (see formatValue).
func (s Spec) Cursor(last map[string]any) (string, error) {
	order := s.Order()
	texts := make([]*string, len(order))
	for i, k := range order {
		d := s.fields.byName[k.Field]
		v, ok := last[k.Field]
		if !ok {
			return "", fmt.Errorf("query: list %s: no value for sort key %q", s.fields.list, k.Field)
		}
		text, null, err := formatValue(d.Type, v)
		if err == nil && null && !d.Nullable {
			err = errors.New("is NULL")
		}
		if err == nil && !null {
			_, err = parseValue(d, text)
		}
		if err != nil {
			return "", fmt.Errorf("query: list %s: cursor value of %q: %w", s.fields.list, k.Field, err)
		}
		if !null {
			texts[i] = &text
		}
	}
	body, err := json.Marshal(texts)
	if err != nil {
		return "", fmt.Errorf("query: encode cursor: %w", err)
	}
	shape := s.shape()
	payload := append(append([]byte{cursorVersion}, shape[:]...), body...)
	return base64URL.EncodeToString(append(payload, checksum(payload)...)), nil
}

// Paginate trims rows, fetched with the one extra row SQL asks for, to one
// page and returns the cursor of the next page, "" when there is none. key
// gives a row's sort-key values, as for Spec.Cursor.
func Paginate[T any](s Spec, rows []T, key func(T) map[string]any) ([]T, string, error) {
	if s.fields.byName == nil || s.Limit < 1 {
		return nil, "", errors.New("query: Paginate needs a Spec from Parse")
	}
	if len(rows) <= s.Limit {
		return rows, "", nil
	}
	next, err := s.Cursor(key(rows[s.Limit-1]))
	if err != nil {
		return nil, "", err
	}
	return rows[:s.Limit], next, nil
}

// decodeCursor checks token against s and returns the position it holds.
func decodeCursor(token string, s Spec) ([]any, error) {
	const foreign = "is not a cursor of this list"
	if len(token) > maxCursorLen {
		return nil, cursorError(foreign)
	}
	raw, err := base64URL.DecodeString(token)
	// The decoder skips line breaks; re-encoding makes the token canonical.
	if err != nil || len(raw) < 1+shapeLen+sumLen || base64URL.EncodeToString(raw) != token {
		return nil, cursorError(foreign)
	}
	payload, sum := raw[:len(raw)-sumLen], raw[len(raw)-sumLen:]
	if !bytes.Equal(sum, checksum(payload)) || payload[0] != cursorVersion {
		return nil, cursorError(foreign)
	}
	if shape := s.shape(); !bytes.Equal(payload[1:1+shapeLen], shape[:]) {
		return nil, cursorError("was made for a different list, sort or filter; start again without it")
	}
	var texts []*string
	if err := json.Unmarshal(payload[1+shapeLen:], &texts); err != nil {
		return nil, cursorError(foreign)
	}
	order := s.Order()
	if len(texts) != len(order) {
		return nil, cursorError(foreign)
	}
	values := make([]any, len(texts))
	for i, k := range order {
		d := s.fields.byName[k.Field]
		if texts[i] == nil {
			if !d.Nullable {
				return nil, cursorError(foreign)
			}
			continue
		}
		if values[i], err = parseValue(d, *texts[i]); err != nil {
			return nil, cursorError(foreign)
		}
	}
	return values, nil
}

func checksum(payload []byte) []byte {
	h := sha256.New()
	h.Write([]byte(sumContext))
	h.Write(payload)
	return h.Sum(nil)[:sumLen]
}

// shape identifies what a cursor's position is a position in: the list, the
// order and the filters (as sets: neither their order nor the order of
// "one of" values matters). The limit is left out: a client may change the
// page size between pages.
func (s Spec) shape() [shapeLen]byte {
	type filter struct {
		Field  string
		Values []string
	}
	filters := make([]filter, len(s.Filters))
	for i, fl := range s.Filters {
		d := s.fields.byName[fl.Field]
		texts := make([]string, len(fl.Values))
		for j, v := range fl.Values {
			texts[j], _, _ = formatValue(d.Type, v)
		}
		slices.Sort(texts)
		filters[i] = filter{Field: fl.Field, Values: texts}
	}
	slices.SortFunc(filters, func(a, b filter) int {
		return cmp.Or(strings.Compare(a.Field, b.Field), slices.Compare(a.Values, b.Values))
	})
	b, _ := json.Marshal(struct {
		List    string
		Order   []SortKey
		Filters []filter
	}{s.fields.list, s.Order(), filters})
	sum := sha256.Sum256(b)
	return [shapeLen]byte(sum[:shapeLen])
}

// cursorError is the client's bad cursor: 400 invalid_cursor, as on the
// core's own lists.
func cursorError(msg string) *sdk.Error {
	return &sdk.Error{
		Kind:    sdk.KindInvalidCursor,
		Message: "the cursor is not valid for this list",
		Fields:  []sdk.FieldError{{Field: "cursor", Message: msg}},
	}
}
