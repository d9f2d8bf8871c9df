package sdk

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// errorToWire converts err for the other side of the process boundary, in
// the spirit of Vault's translation.go: kind, message, fields and source
// travel; the local cause travels only as text, and only for internal errors.
func errorToWire(err error, from wire.Source) *wire.Error {
	var e *Error
	if !errors.As(err, &e) {
		e = contextError(err)
	}
	w := &wire.Error{
		Kind:    wire.Kind(e.Kind),
		Message: e.Message,
		Source:  wire.Source(e.Source),
	}
	if e.Kind == KindInternal && e.Err != nil {
		if w.Message == "" {
			w.Message = e.Err.Error()
		} else {
			w.Message += ": " + e.Err.Error()
		}
	}
	if w.Source == wire.Source_SOURCE_UNSPECIFIED {
		w.Source = from
	}
	if len(e.Fields) > 0 {
		w.Fields = make([]*wire.FieldError, len(e.Fields))
		for i, f := range e.Fields {
			w.Fields[i] = &wire.FieldError{Field: f.Field, Message: f.Message}
		}
	}
	return w
}

// contextError classifies an error that is not an *Error: a context's
// deadline is a timeout, its cancellation means the caller went away, and
// anything else is internal with the error's text as its message.
func contextError(err error) *Error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Message: "deadline exceeded"}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: KindUnavailable, Message: "request canceled"}
	}
	return &Error{Kind: KindInternal, Message: err.Error()}
}

func errorFromWire(w *wire.Error) *Error {
	e := &Error{Message: w.GetMessage()}
	if k := w.GetKind(); k >= 0 && int(k) < len(kindNames) {
		e.Kind = Kind(k)
	}
	switch s := w.GetSource(); s {
	case wire.Source_SOURCE_PLUGIN, wire.Source_SOURCE_HOST:
		e.Source = Source(s)
	}
	if fs := w.GetFields(); len(fs) > 0 {
		e.Fields = make([]FieldError, len(fs))
		for i, f := range fs {
			e.Fields[i] = FieldError{Field: f.GetField(), Message: f.GetMessage()}
		}
	}
	return e
}

// hostCallError turns the failure of a host service call into an *Error:
// the host's own answer when it sent one, otherwise the gRPC status of a
// broken or late call.
func hostCallError(op string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return &Error{Kind: KindInternal, Source: SourceHost, Message: op, Err: err}
	}
	e := &Error{Source: SourceHost, Message: op + ": " + st.Message()}
	switch st.Code() {
	case codes.DeadlineExceeded:
		e.Kind = KindTimeout
	case codes.Canceled, codes.Unavailable:
		e.Kind = KindUnavailable
	case codes.ResourceExhausted:
		e.Kind = KindTooLarge
	default:
		e.Kind = KindInternal
	}
	return e
}
