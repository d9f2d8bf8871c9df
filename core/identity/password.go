// Package identity is who callers are: platform operators and tenant users,
// their passwords, and the tokens that carry their identity.
package identity

import (
	"context"
	"errors"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/atriumhq/atrium/core/kernel"
)

// Password rules. bcrypt reads only the first 72 bytes of a password; rather
// than silently ignore the rest, longer passwords are refused.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 72 // bytes
	DefaultCost    = 12
)

// Passwords hashes and checks passwords with bcrypt, at most `slots`
// hashes at a time so a login flood cannot take every core.
type Passwords struct {
	cost      int
	slots     chan struct{}
	dummyOnce sync.Once
	dummy     []byte // a real hash to compare against for unknown users
}

// NewPasswords returns a hasher at cost (at least bcrypt's default of 10)
// running at most concurrency hashes at once.
func NewPasswords(cost, concurrency int) *Passwords {
	cost = min(max(cost, bcrypt.DefaultCost), bcrypt.MaxCost)
	return &Passwords{cost: cost, slots: make(chan struct{}, max(concurrency, 1))}
}

// CheckPolicy reports why a password is unacceptable, as a field error.
func CheckPolicy(field, password string) error {
	switch {
	case !utf8.ValidString(password):
		return kernel.Invalid(kernel.FieldError{Field: field, Message: "must be valid UTF-8"})
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return kernel.Invalid(kernel.FieldError{Field: field, Message: "must be at least 10 characters"})
	case len(password) > MaxPasswordLen:
		return kernel.Invalid(kernel.FieldError{Field: field, Message: "must be at most 72 bytes (bcrypt's limit)"})
	}
	return nil
}

// Hash checks the policy and returns the bcrypt hash.
func (p *Passwords) Hash(password string) (string, error) {
	if err := CheckPolicy("password", password); err != nil {
		return "", err
	}
	p.slots <- struct{}{}
	defer func() { <-p.slots }()
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// Verify reports whether password matches hash. With an empty hash (an
// unknown account) it still spends a full comparison, so the answer takes
// the same time either way.
func (p *Passwords) Verify(ctx context.Context, hash, password string) (bool, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return false, kernel.Wrap(kernel.KindUnavailable, ctx.Err(), "too many logins in progress")
	}
	defer func() { <-p.slots }()
	h := []byte(hash)
	// bcrypt's comparison reads only the first 72 bytes: a longer password
	// would match any stored one that is its prefix. No stored password is
	// longer (Hash refuses them), so such a password never matches; it still
	// spends a full comparison, against the dummy, to answer in the same time.
	tooLong := len(password) > MaxPasswordLen
	if hash == "" || tooLong {
		p.dummyOnce.Do(func() {
			p.dummy, _ = bcrypt.GenerateFromPassword([]byte("atrium-dummy-password"), p.cost)
		})
		h = p.dummy
	}
	err := bcrypt.CompareHashAndPassword(h, []byte(password))
	switch {
	case err == nil:
		return hash != "" && !tooLong, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), errors.Is(err, bcrypt.ErrPasswordTooLong):
		return false, nil
	}
	return false, err
}
