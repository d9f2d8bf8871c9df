package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/atriumhq/atrium/core/kernel"
)

// Limiter counts sign-in attempts per key in fixed windows. Every attempt
// counts, not only failures: counting before the password is checked is
// what stops a burst of parallel guesses.
type Limiter interface {
	// Take counts an attempt. Past the limit it returns how long until
	// the key's window ends (and the attempt must be refused).
	Take(ctx context.Context, key string) (retryAfter time.Duration, err error)
	// Reset forgets a key's attempts, after a successful sign-in.
	Reset(ctx context.Context, key string) error
}

// RateLimitedError refuses an attempt past its limit. It unwraps to a
// KindRateLimited kernel error; RetryAfter says when to come back.
type RateLimitedError struct {
	wait time.Duration
	err  *kernel.Error // nil: errRateLimited
}

var (
	errRateLimited  = kernel.E(kernel.KindRateLimited, "too many sign-in attempts for this account; try again later")
	errAddressLimit = kernel.E(kernel.KindRateLimited, "too many sign-in attempts from this address; try again later")
)

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Unwrap(), e.wait)
}

// Unwrap returns the kernel error the API maps.
func (e *RateLimitedError) Unwrap() error {
	if e.err == nil {
		return errRateLimited
	}
	return e.err
}

// RetryAfter is how long until the next attempt may be made.
func (e *RateLimitedError) RetryAfter() time.Duration { return e.wait }

// attemptKey names what is limited without putting raw input into keys:
// the parts (a tenant, an account) are hashed to a fixed length.
func attemptKey(kind string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "login:" + kind + ":" + hex.EncodeToString(h[:16])
}

// take counts an attempt on key, refusing it past the limit.
func take(ctx context.Context, l Limiter, key string) error {
	return takeAs(ctx, l, key, nil)
}

func takeAs(ctx context.Context, l Limiter, key string, refusal *kernel.Error) error {
	wait, err := l.Take(ctx, key)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &RateLimitedError{wait: wait, err: refusal}
	}
	return nil
}

// admit counts a sign-in attempt on an account (kind and the parts naming
// it) from the request's address. The account's limit (Limiter) counts
// per account and address, so attempts from one address cannot lock the
// account out for its owner elsewhere; Wide (when set) limits each address's
// attempts on any account, refused first and counting nothing else, and
// each account's from every address together, at its own higher limit. A
// lockout then takes Wide's limit of attempts spread over many addresses.
// It returns what forgets the account's attempts after a success.
func (in SignIn) admit(ctx context.Context, kind string, parts ...string) (func(), error) {
	ip := kernel.RequestMetaFrom(ctx).IP
	var wide string
	if in.Wide != nil {
		if ip != "" {
			if err := takeAs(ctx, in.Wide, attemptKey("ip", ip), errAddressLimit); err != nil {
				return nil, err
			}
		}
		wide = attemptKey(kind+"-all", parts...)
		if err := take(ctx, in.Wide, wide); err != nil {
			return nil, err
		}
	}
	key := attemptKey(kind, append(parts, ip)...)
	if err := take(ctx, in.Limiter, key); err != nil {
		return nil, err
	}
	return func() { // best effort: the windows end anyway
		_ = in.Limiter.Reset(ctx, key)
		if wide != "" {
			_ = in.Wide.Reset(ctx, wide)
		}
	}, nil
}

// MemoryLimiter is the in-process Limiter: each replica counts on its own.
// It serves when no Redis is configured, and while Redis is unreachable.
type MemoryLimiter struct {
	limit  int
	window time.Duration
	clock  kernel.Clock

	mu      sync.Mutex
	windows map[string]*attempts
	swept   time.Time
}

type attempts struct {
	n    int
	ends time.Time
}

// NewMemoryLimiter allows limit attempts per key in each window.
func NewMemoryLimiter(limit int, window time.Duration, clock kernel.Clock) *MemoryLimiter {
	return &MemoryLimiter{limit: limit, window: window, clock: clock, windows: map[string]*attempts{}}
}

// Take implements Limiter.
func (m *MemoryLimiter) Take(_ context.Context, key string) (time.Duration, error) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	a, ok := m.windows[key]
	if !ok || !now.Before(a.ends) {
		a = &attempts{ends: now.Add(m.window)}
		m.windows[key] = a
	}
	a.n++
	if a.n > m.limit {
		return a.ends.Sub(now), nil
	}
	return 0, nil
}

// Reset implements Limiter.
func (m *MemoryLimiter) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	delete(m.windows, key)
	m.mu.Unlock()
	return nil
}

// sweep drops ended windows once per window, so keys of one-off attempts
// (random emails) do not pile up.
func (m *MemoryLimiter) sweep(now time.Time) {
	if now.Sub(m.swept) < m.window {
		return
	}
	for k, a := range m.windows {
		if !now.Before(a.ends) {
			delete(m.windows, k)
		}
	}
	m.swept = now
}
