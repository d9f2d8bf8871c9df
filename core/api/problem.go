package api

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/kernel"
)

const problemContentType = "application/problem+json"

// problemStatus maps each error kind to its HTTP status and default code.
// It is the one table where domain errors meet HTTP.
var problemStatus = map[kernel.Kind]struct {
	status int
	code   string
}{
	kernel.KindInternal:        {http.StatusInternalServerError, "internal"},
	kernel.KindBadRequest:      {http.StatusBadRequest, "bad_request"},
	kernel.KindInvalid:         {http.StatusUnprocessableEntity, "validation_failed"},
	kernel.KindUnauthenticated: {http.StatusUnauthorized, "unauthenticated"},
	kernel.KindForbidden:       {http.StatusForbidden, "forbidden"},
	kernel.KindNotFound:        {http.StatusNotFound, "not_found"},
	kernel.KindConflict:        {http.StatusConflict, "conflict"},
	kernel.KindTooLarge:        {http.StatusRequestEntityTooLarge, "payload_too_large"},
	kernel.KindUnsupported:     {http.StatusUnsupportedMediaType, "unsupported_media_type"},
	kernel.KindRateLimited:     {http.StatusTooManyRequests, "rate_limited"},
	kernel.KindUnavailable:     {http.StatusServiceUnavailable, "unavailable"},
	kernel.KindTimeout:         {http.StatusGatewayTimeout, "timeout"},
}

// codeStatus refines a kind's status for the codes that have one of their
// own.
var codeStatus = map[string]int{"method_not_allowed": http.StatusMethodNotAllowed}

// ProblemFor turns any error into the problem document a client sees.
// Internal errors keep their details to the log: the client gets a generic
// message and the request ID to quote.
func ProblemFor(err error, requestID string) Problem {
	var e *kernel.Error
	if !errors.As(err, &e) {
		e = &kernel.Error{Kind: kernel.KindInternal}
		if errors.Is(err, context.DeadlineExceeded) {
			e = &kernel.Error{Kind: kernel.KindTimeout, Message: "the request took too long"}
		}
	}
	m, ok := problemStatus[e.Kind]
	if !ok {
		m = problemStatus[kernel.KindInternal]
	}
	code := e.Code
	if code == "" {
		code = m.code
	}
	if s, ok := codeStatus[code]; ok {
		m.status = s
	}
	detail := e.Message
	if e.Kind == kernel.KindInternal {
		detail = "an unexpected error occurred; quote the request ID when reporting it"
		code = m.code
	}
	return Problem{
		Type:      "urn:atrium:problem:" + code,
		Title:     http.StatusText(m.status),
		Status:    m.status,
		Detail:    detail,
		Code:      code,
		RequestID: requestID,
		Errors:    e.Fields,
	}
}

// writeError renders err as problem+json and records it on the gin context,
// where the access log picks it up: an error is logged once, by the logger.
// unavailableRetryAfter is the Retry-After of a 503 whose error names no
// wait of its own: soon, since most outages a client meets are short
// (a restart, a failover, a burst that exhausted the pool).
const unavailableRetryAfter = "1"

func writeError(c *gin.Context, err error) {
	if d, ok := retryAfter(err); ok {
		c.Header("Retry-After", strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10))
	}
	p := ProblemFor(err, requestID(c))
	if p.Status == http.StatusInternalServerError && errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
		p = clientClosed(p.RequestID)
	}
	renderProblem(c, p, err)
}

// statusClientClosed is nginx's 499: the client went away before the
// answer (while its request waited for a connection, say). No one reads
// the problem; the log and the metrics must not count it as the server's
// failure.
const statusClientClosed = 499

func clientClosed(requestID string) Problem {
	return Problem{Type: "urn:atrium:problem:client_closed_request", Title: "Client Closed Request",
		Status: statusClientClosed, Detail: "the client closed the request before it was answered",
		Code: "client_closed_request", RequestID: requestID}
}

// retryAfter is how long a rate-limited (or otherwise refused for now)
// caller should wait, when the error says so (identity.RateLimitedError).
func retryAfter(err error) (time.Duration, bool) {
	var r interface{ RetryAfter() time.Duration }
	if !errors.As(err, &r) || r.RetryAfter() <= 0 {
		return 0, false
	}
	return max(r.RetryAfter(), time.Second), true
}

func renderProblem(c *gin.Context, p Problem, err error) {
	if p.Status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		// Every 503 is worth retrying: a dependency down, a pool exhausted.
		c.Header("Retry-After", unavailableRetryAfter)
	}
	_ = c.Error(err)
	c.Set(ctxProblemCode, p.Code)
	c.Header("Content-Type", problemContentType)
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(p.Status, p)
}
