// Package model holds the request and response bodies of the HTTP API:
// core/api serves them and the atrium CLI sends and reads them, so the two
// cannot drift. It imports nothing of the server but the shared kernel
// (no gin, no domain packages), which keeps the CLI binary small; core/api
// converts between these and its domain types.
package model

import "github.com/atriumhq/atrium/core/kernel"

// FieldError is one invalid field of a request, as a problem lists it: the
// kernel's own, which every error of the domain carries.
type FieldError = kernel.FieldError

// Problem is an error response (RFC 9457 problem+json). Code is the stable
// machine-readable reason; Errors lists invalid fields.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Code      string       `json:"code"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}
