package api

import (
	"fmt"
	"math"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/tenancy"
)

// tenantRates keeps each tenant to its request rate limit (the rate_limit
// setting) on Tenant routes, plugins' included.
type tenantRates struct {
	limiter tenancy.RequestLimiter
	refused prometheus.Counter
}

func newTenantRates(l tenancy.RequestLimiter, reg prometheus.Registerer) *tenantRates {
	if l == nil {
		return nil
	}
	t := &tenantRates{limiter: l, refused: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "atrium_rate_limited_total",
		Help: "Tenant requests refused 429 rate_limited: over the tenant's request rate limit.",
	})}
	if reg != nil {
		reg.MustRegister(t.refused)
	}
	return t
}

// errRateLimited is what a request over its tenant's limit is told.
var errRateLimited = kernel.E(kernel.KindRateLimited, "the tenant's request rate limit is reached; retry after the time Retry-After gives")

type rateLimitedError struct{ wait time.Duration }

func (e *rateLimitedError) Error() string             { return errRateLimited.Error() }
func (e *rateLimitedError) Unwrap() error             { return errRateLimited }
func (e *rateLimitedError) RetryAfter() time.Duration { return e.wait }

// take counts the request against t's limit, if it has one, and says so
// in the RateLimit and RateLimit-Policy headers (the IETF draft's
// fields): a refusal is a 429 with Retry-After.
func (tr *tenantRates) take(c *gin.Context, t *kernel.Tenant) error {
	if tr == nil {
		return nil
	}
	limit := tenancy.RateLimitOf(t.Settings)
	if limit.PerSecond == 0 {
		return nil
	}
	v, err := tr.limiter.Take(c.Request.Context(), t.ID, limit)
	if err != nil {
		return err
	}
	c.Header("RateLimit-Policy", fmt.Sprintf("%d;w=1;burst=%d", int64(math.Ceil(limit.PerSecond)), limit.Burst))
	c.Header("RateLimit", fmt.Sprintf("limit=%d, remaining=%d, reset=%d", limit.Burst, v.Remaining, int64(math.Ceil(v.Reset.Seconds()))))
	if !v.Allowed {
		tr.refused.Inc()
		return &rateLimitedError{wait: v.RetryAfter}
	}
	return nil
}
