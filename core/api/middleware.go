package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/telemetry"
)

const (
	headerRequestID = "X-Request-ID"
	ctxRequestID    = "atrium.request_id"
	ctxProblemCode  = "atrium.problem_code"
	ctxQuiet        = "atrium.quiet"
	ctxPluginRoute  = "atrium.plugin_route"
	unmatchedRoute  = "unmatched"
)

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// withRequestID echoes a well-formed client X-Request-ID or makes one, and
// puts it in the request context for logs, audit and plugins.
func withRequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(headerRequestID)
		if !validRequestID(id) {
			id = kernel.NewID().String()
		}
		c.Set(ctxRequestID, id)
		c.Header(headerRequestID, id)
		ctx := kernel.WithRequestID(c.Request.Context(), id)
		ctx = kernel.WithRequestMeta(ctx, kernel.RequestMeta{IP: c.ClientIP(), UserAgent: truncate(c.Request.UserAgent(), maxUserAgent)})
		ctx = telemetry.WithAttrs(ctx, slog.String("method", c.Request.Method), slog.String("route", routeOf(c)))
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// maxUserAgent bounds what a client's User-Agent adds to an audit record.
const maxUserAgent = 512

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// validRequestID accepts short IDs of token characters only, so a client
// cannot inject log lines or headers through it.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '_' || r == '.' || r == ':'
		if !ok {
			return false
		}
	}
	return true
}

func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	if r := c.GetString(ctxPluginRoute); r != "" { // a plugin's route template
		return r
	}
	return unmatchedRoute
}

// withTracing continues a W3C trace from the client, or starts one, with a
// span named after the route template.
func withTracing(tp trace.TracerProvider) gin.HandlerFunc {
	tracer := tp.Tracer("github.com/atriumhq/atrium/core/api")
	return func(c *gin.Context) {
		ctx := otel.GetTextMapPropagator().Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
		route := routeOf(c)
		ctx, span := tracer.Start(ctx, c.Request.Method+" "+route,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", c.Request.Method),
				attribute.String("http.route", route),
				attribute.String("atrium.request_id", requestID(c)),
			))
		defer span.End()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
		if r := routeOf(c); r != route { // a plugin's route, known only now
			span.SetName(c.Request.Method + " " + r)
			span.SetAttributes(attribute.String("http.route", r))
		}
		status := c.Writer.Status()
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
}

// observe writes the access log line and the HTTP metrics once the request is
// done. It is where errors recorded by writeError or recovery get logged.
func observe(log *slog.Logger, m *httpMetrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		m.inflight.Inc()
		c.Next()
		m.inflight.Dec()

		elapsed := time.Since(start)
		status := c.Writer.Status()
		route := routeOf(c)
		labels := []string{c.Request.Method, route, strconv.Itoa(status)}
		m.requests.WithLabelValues(labels...).Inc()
		m.duration.WithLabelValues(labels...).Observe(elapsed.Seconds())
		code := c.GetString(ctxProblemCode)
		if code != "" {
			m.problems.WithLabelValues(code).Inc()
		}

		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case c.GetBool(ctxQuiet) && status < 400:
			level = slog.LevelDebug
		}
		ctx := c.Request.Context()
		if !log.Enabled(ctx, level) {
			return
		}
		attrs := []slog.Attr{ // method and route come from the context
			slog.String("path", c.Request.URL.Path),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.Int("bytes", max(c.Writer.Size(), 0)),
			slog.String("ip", c.ClientIP()),
		}
		if code != "" {
			attrs = append(attrs, slog.String("problem", code))
		}
		if status >= 500 && len(c.Errors) > 0 {
			attrs = append(attrs, slog.String("error", c.Errors.Last().Err.Error()))
		}
		log.LogAttrs(ctx, level, "http request", attrs...)
	}
}

// recovery turns a handler panic into a 500 problem; the stack goes to the log
// with the request's other fields, never to the client.
func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(v)
			}
			err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
			if c.Writer.Written() {
				_ = c.Error(err)
				c.Abort()
				return
			}
			writeError(c, err)
		}()
		c.Next()
	}
}

// limitBody refuses bodies over the route's limit: at once when
// Content-Length says so, otherwise when the handler reads past it.
func limitBody(limitOf func(*gin.Context) int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		max := limitOf(c)
		if c.Request.ContentLength > max {
			writeError(c, bodyTooLarge(max))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}
