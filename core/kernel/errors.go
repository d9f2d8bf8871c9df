package kernel

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error by what the caller can do about it. The API layer
// maps each kind to one HTTP status; domain code never thinks in statuses.
type Kind uint8

// The error kinds. KindInternal is the zero value, so an error of unknown
// origin is never mistaken for the caller's fault.
const (
	KindInternal        Kind = iota // a fault of ours; details never reach the client
	KindBadRequest                  // the request cannot be understood (malformed syntax, bad query)
	KindInvalid                     // understood, but values break the rules (field errors)
	KindUnauthenticated             // no or bad credentials
	KindForbidden                   // authenticated, but the decision is deny
	KindNotFound                    // the resource does not exist (or is not visible)
	KindConflict                    // the state forbids it: duplicate, wrong status
	KindTooLarge                    // the payload is over a limit
	KindUnsupported                 // unsupported media type
	KindRateLimited                 // too many attempts; retry later
	KindUnavailable                 // a dependency is down; retry later
	KindTimeout                     // a dependency did not answer in time
)

var kindNames = [...]string{
	KindInternal:        "internal",
	KindBadRequest:      "bad_request",
	KindInvalid:         "invalid",
	KindUnauthenticated: "unauthenticated",
	KindForbidden:       "forbidden",
	KindNotFound:        "not_found",
	KindConflict:        "conflict",
	KindTooLarge:        "too_large",
	KindUnsupported:     "unsupported",
	KindRateLimited:     "rate_limited",
	KindUnavailable:     "unavailable",
	KindTimeout:         "timeout",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// FieldError names one offending input field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type domain code returns for expected failures.
//
// Message is written for the client and must not leak internals; Err is the
// cause, kept for logs and errors.Is/As. Code, when set, refines the kind's
// default machine-readable code (for example "tenant_suspended" for a
// KindForbidden).
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  []FieldError
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, f := range e.Fields {
		b.WriteString("; " + f.Field + ": " + f.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is a sentinel of the same kind (and code, when
// the sentinel names one), so errors.Is(err, kernel.ErrNotFound) works for
// every not-found error however it was built.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t.Message != "" || t.Err != nil {
		return false
	}
	return t.Kind == e.Kind && (t.Code == "" || t.Code == e.Code)
}

// Sentinels for errors.Is; build real errors with the constructors below.
var (
	ErrBadRequest      = &Error{Kind: KindBadRequest}
	ErrInvalid         = &Error{Kind: KindInvalid}
	ErrUnauthenticated = &Error{Kind: KindUnauthenticated}
	ErrForbidden       = &Error{Kind: KindForbidden}
	ErrNotFound        = &Error{Kind: KindNotFound}
	ErrConflict        = &Error{Kind: KindConflict}
	ErrTooLarge        = &Error{Kind: KindTooLarge}
	ErrRateLimited     = &Error{Kind: KindRateLimited}
	ErrUnavailable     = &Error{Kind: KindUnavailable}
	ErrTimeout         = &Error{Kind: KindTimeout}

	// The bad requests every route, core or plugin, answers alike.
	ErrInvalidQuery  = &Error{Kind: KindBadRequest, Code: "invalid_query"}  // a list's ?limit=, ?sort= or filter
	ErrInvalidCursor = &Error{Kind: KindBadRequest, Code: "invalid_cursor"} // a list's ?cursor=
	ErrMalformedJSON = &Error{Kind: KindBadRequest, Code: "malformed_json"} // a body that is not one JSON value of the right shape
)

// E builds an error of kind k with a client-safe message.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an error of kind k that keeps cause for logs and errors.Is.
func Wrap(k Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...), Err: cause}
}

// Invalid reports field-level validation failures.
func Invalid(fields ...FieldError) *Error {
	return &Error{Kind: KindInvalid, Message: "the request has invalid fields", Fields: fields}
}

// NotFound reports that a resource of the given type does not exist.
func NotFound(resource string) *Error {
	return &Error{Kind: KindNotFound, Message: resource + " not found"}
}

// WithCode returns a copy of e with a refined machine-readable code.
func (e *Error) WithCode(code string) *Error {
	c := *e
	c.Code = code
	return &c
}

// KindOf returns the kind of err, KindInternal for errors that carry none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
