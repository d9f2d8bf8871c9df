package kernel_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/atriumhq/atrium/core/kernel"
)

func TestErrorsIsMatchesKindAcrossWrapping(t *testing.T) {
	err := fmt.Errorf("load tenant: %w", kernel.NotFound("tenant"))
	assert.ErrorIs(t, err, kernel.ErrNotFound)
	assert.NotErrorIs(t, err, kernel.ErrConflict)
	assert.Equal(t, kernel.KindNotFound, kernel.KindOf(err))
}

func TestErrorsIsHonoursCodeOfSentinel(t *testing.T) {
	suspended := kernel.E(kernel.KindForbidden, "tenant is suspended").WithCode("tenant_suspended")
	assert.ErrorIs(t, suspended, kernel.ErrForbidden)
	assert.ErrorIs(t, suspended, kernel.ErrForbidden.WithCode("tenant_suspended"))
	assert.NotErrorIs(t, kernel.E(kernel.KindForbidden, "no"), kernel.ErrForbidden.WithCode("tenant_suspended"))
}

func TestWrapKeepsCause(t *testing.T) {
	cause := errors.New("connection reset")
	err := kernel.Wrap(kernel.KindUnavailable, cause, "database unavailable")
	assert.ErrorIs(t, err, cause)
	assert.ErrorIs(t, err, kernel.ErrUnavailable)
	assert.Equal(t, "unavailable: database unavailable: connection reset", err.Error())
}

func TestUnknownErrorsAreInternal(t *testing.T) {
	assert.Equal(t, kernel.KindInternal, kernel.KindOf(errors.New("boom")))
	assert.Equal(t, kernel.KindInternal, kernel.KindOf(nil))
}

func TestInvalidListsFields(t *testing.T) {
	err := kernel.Invalid(kernel.FieldError{Field: "slug", Message: "is required"})
	assert.Equal(t, "invalid: the request has invalid fields; slug: is required", err.Error())
}

func TestNewIDIsVersion7AndOrdered(t *testing.T) {
	a, b := kernel.NewID(), kernel.NewID()
	assert.EqualValues(t, 7, a.Version())
	assert.Less(t, a.String(), b.String())
}

func TestParseIDHidesFormat(t *testing.T) {
	_, err := kernel.ParseID("tenant", "not-a-uuid")
	assert.ErrorIs(t, err, kernel.ErrNotFound)
}
