package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
)

type waitError struct{ d time.Duration }

func (e waitError) Error() string             { return "slow down" }
func (e waitError) RetryAfter() time.Duration { return e.d }
func (e waitError) Unwrap() error             { return kernel.E(kernel.KindRateLimited, "slow down") }

func TestEveryUnavailableProblemCarriesRetryAfter(t *testing.T) {
	gin.SetMode(gin.TestMode)
	write := func(err error) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
		writeError(c, err)
		return w
	}

	w := write(kernel.E(kernel.KindUnavailable, "no database connection was free within 5s"))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	var p Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	assert.Equal(t, "unavailable", p.Code)
	assert.Equal(t, "no database connection was free within 5s", p.Detail)

	assert.Equal(t, "1", write(kernel.E(kernel.KindUnavailable, "audit").WithCode("audit_unavailable")).Header().Get("Retry-After"))
	assert.Equal(t, "30", write(waitError{30 * time.Second}).Header().Get("Retry-After"), "an error's own wait wins")
	assert.Empty(t, write(kernel.E(kernel.KindConflict, "taken")).Header().Get("Retry-After"))
}

// A request its client gave up on is no server failure: 499, not a 500
// logged as an error. The same cancellation while the client still waits
// (nothing of the request's own ended) stays a 500.
func TestACancelledRequestIsTheClientsDoing(t *testing.T) {
	gin.SetMode(gin.TestMode)
	write := func(ctx context.Context, err error) Problem {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		writeError(c, err)
		var p Problem
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
		assert.Equal(t, p.Status, w.Code)
		return p
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	waited := fmt.Errorf("wait for a plugin connection: %w", context.Canceled)

	p := write(gone, waited)
	assert.Equal(t, statusClientClosed, p.Status)
	assert.Equal(t, "client_closed_request", p.Code)

	assert.Equal(t, http.StatusInternalServerError, write(context.Background(), waited).Status)
	assert.Equal(t, http.StatusConflict, write(gone, kernel.E(kernel.KindConflict, "taken")).Status, "a verdict stays a verdict")
}
