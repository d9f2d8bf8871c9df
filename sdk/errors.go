package sdk

import (
	"fmt"
	"strings"
)

// Kind classifies an error by what the caller can do about it. The core maps
// each kind to one HTTP status and problem code, the same a core route gives
// for the same mistake, so a handler never thinks in statuses. The status and
// code of each kind are noted beside it.
type Kind uint8

// The error kinds. KindInternal is the zero value, so an error of unknown
// origin is never mistaken for the caller's fault. New kinds go at the end:
// the number is what crosses the process boundary.
const (
	KindInternal        Kind = iota // 500 internal: a fault; its details never reach the client
	KindInvalid                     // 422 validation_failed: well-formed input whose fields break the rules (see Error.Fields)
	KindUnauthenticated             // 401 unauthenticated: no or bad credentials
	KindForbidden                   // 403 forbidden: authenticated, but not allowed
	KindNotFound                    // 404 not_found: the resource does not exist or is not visible
	KindConflict                    // 409 conflict: the current state forbids it: duplicate, wrong status
	KindTooLarge                    // 413 payload_too_large: a payload is over a limit
	KindUnavailable                 // 503 unavailable: a dependency is down; retry later
	KindTimeout                     // 504 timeout: a dependency or the plugin did not answer in time
	KindBadRequest                  // 400 bad_request: the request cannot be understood
	KindInvalidQuery                // 400 invalid_query: a list's ?limit=, ?sort= or filter is wrong (package query)
	KindInvalidCursor               // 400 invalid_cursor: a list's ?cursor= is malformed or not this list's (package query)
	KindMalformedJSON               // 400 malformed_json: the body is not one JSON value of the right shape (Context.Bind)
	KindRateLimited                 // 429 rate_limited: too many attempts; retry later
	KindUnsupported                 // 415 unsupported_media_type: the body's media type is not accepted
)

var kindNames = [...]string{
	KindInternal:        "internal",
	KindInvalid:         "invalid",
	KindUnauthenticated: "unauthenticated",
	KindForbidden:       "forbidden",
	KindNotFound:        "not_found",
	KindConflict:        "conflict",
	KindTooLarge:        "too_large",
	KindUnavailable:     "unavailable",
	KindTimeout:         "timeout",
	KindBadRequest:      "bad_request",
	KindInvalidQuery:    "invalid_query",
	KindInvalidCursor:   "invalid_cursor",
	KindMalformedJSON:   "malformed_json",
	KindRateLimited:     "rate_limited",
	KindUnsupported:     "unsupported",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Source says which side of the process boundary an error comes from, so
// operators can tell a plugin's bug from a failing database.
type Source uint8

// The sources. An error leaves SourceUnspecified until it crosses the
// boundary, where the side that sends it claims it.
const (
	SourceUnspecified Source = iota
	SourcePlugin             // the plugin's own code decided or failed
	SourceHost               // the core or a service behind it (database, cache, policy)
)

func (s Source) String() string {
	switch s {
	case SourcePlugin:
		return "plugin"
	case SourceHost:
		return "host"
	}
	return "unspecified"
}

// FieldError names one offending input field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the error type handlers return for expected failures, and the one
// they receive from host services. Its kind survives the process boundary in
// both directions, so errors.Is(err, sdk.ErrNotFound) holds on either side.
//
// Message is written for the API client; never put secrets or internals in
// it. Err is a local cause kept for logs and errors.Is/As; it does not cross
// the boundary.
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError
	Source  Source
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for _, f := range e.Fields {
		b.WriteString("; ")
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's kind, so errors.Is works
// for every error of a kind however it was built.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.isSentinel() && t.Kind == e.Kind
}

func (e *Error) isSentinel() bool {
	return e.Message == "" && e.Fields == nil && e.Err == nil && e.Source == SourceUnspecified
}

// Sentinels for errors.Is; build real errors with the constructors below.
var (
	ErrInternal        = &Error{Kind: KindInternal}
	ErrInvalid         = &Error{Kind: KindInvalid}
	ErrUnauthenticated = &Error{Kind: KindUnauthenticated}
	ErrForbidden       = &Error{Kind: KindForbidden}
	ErrNotFound        = &Error{Kind: KindNotFound}
	ErrConflict        = &Error{Kind: KindConflict}
	ErrTooLarge        = &Error{Kind: KindTooLarge}
	ErrUnavailable     = &Error{Kind: KindUnavailable}
	ErrTimeout         = &Error{Kind: KindTimeout}
	ErrBadRequest      = &Error{Kind: KindBadRequest}
	ErrInvalidQuery    = &Error{Kind: KindInvalidQuery}
	ErrInvalidCursor   = &Error{Kind: KindInvalidCursor}
	ErrMalformedJSON   = &Error{Kind: KindMalformedJSON}
	ErrRateLimited     = &Error{Kind: KindRateLimited}
	ErrUnsupported     = &Error{Kind: KindUnsupported}
)

// Errorf builds an error of kind k with a client-safe message.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports well-formed input whose fields break the rules, one
// FieldError per field.
func Invalid(fields ...FieldError) *Error {
	return &Error{Kind: KindInvalid, Message: "the request is invalid", Fields: fields}
}

// NotFound reports a resource that does not exist or is not visible.
func NotFound(format string, args ...any) *Error { return Errorf(KindNotFound, format, args...) }

// Conflict reports a state that forbids the operation.
func Conflict(format string, args ...any) *Error { return Errorf(KindConflict, format, args...) }

// Forbidden reports an operation the principal may not perform.
func Forbidden(format string, args ...any) *Error { return Errorf(KindForbidden, format, args...) }

// Unauthenticated reports missing or bad credentials.
func Unauthenticated(format string, args ...any) *Error {
	return Errorf(KindUnauthenticated, format, args...)
}

// BadRequest reports a request that cannot be understood.
func BadRequest(format string, args ...any) *Error { return Errorf(KindBadRequest, format, args...) }

// RateLimited reports a caller that must wait before trying again.
func RateLimited(format string, args ...any) *Error {
	return Errorf(KindRateLimited, format, args...)
}

// TooLarge reports a payload over a limit.
func TooLarge(format string, args ...any) *Error { return Errorf(KindTooLarge, format, args...) }

// Unavailable reports a dependency that is down.
func Unavailable(format string, args ...any) *Error { return Errorf(KindUnavailable, format, args...) }

// Timeout reports a dependency that did not answer in time.
func Timeout(format string, args ...any) *Error { return Errorf(KindTimeout, format, args...) }

// Internal wraps an unexpected failure. The message reaches logs, never the
// API client; err stays available to errors.Is/As in this process.
func Internal(err error, format string, args ...any) *Error {
	return &Error{Kind: KindInternal, Message: fmt.Sprintf(format, args...), Err: err}
}
