package audit

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/atriumhq/atrium/core/kernel"
)

func TestUnwritableSaysWhenTheDatabaseIsUnavailableAndKeepsTheCause(t *testing.T) {
	down := kernel.Wrap(kernel.KindUnavailable, errors.New("dial tcp: connection refused"), "the database is unavailable")
	err := Unwritable(fmt.Errorf("%w (the request failed with: %s)", down, "insert user: conn closed"))
	var ke *kernel.Error
	if assert.ErrorAs(t, err, &ke) {
		assert.Equal(t, kernel.KindUnavailable, ke.Kind)
		assert.Equal(t, "audit_unavailable", ke.Code)
		assert.Equal(t, "the database is unavailable, so the audit log cannot be written; nothing was changed", ke.Message)
	}
	assert.ErrorIs(t, err, ErrUnwritable)
	// The access log prints the error: both causes are in it.
	assert.Contains(t, err.Error(), "connection refused")
	assert.Contains(t, err.Error(), "insert user: conn closed")

	other := Unwritable(errors.New("sign record: bad key"))
	assert.ErrorAs(t, other, &ke)
	assert.Equal(t, "the audit log cannot be written; nothing was changed", ke.Message)
	// The request's error does not decide: the record's does.
	again := Unwritable(fmt.Errorf("%w (the request failed with: %w)", other, kernel.E(kernel.KindUnavailable, "plugin down")))
	assert.ErrorAs(t, again, &ke)
	assert.Equal(t, "the audit log cannot be written; nothing was changed", ke.Message)
}
