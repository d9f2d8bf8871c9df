package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/kernel"
)

// tenantAuth signs every caller in as a user of one tenant.
type tenantAuth struct{ nopAuth }

func (tenantAuth) TenantUser(context.Context, string) (*kernel.Principal, *kernel.Tenant, error) {
	return &kernel.Principal{ID: kernel.NewID(), Type: kernel.PrincipalUser}, &kernel.Tenant{ID: kernel.NewID(), Slug: "acme"}, nil
}

// countingUnit commits when fn succeeds, and counts.
type countingUnit struct {
	mu                 sync.Mutex
	commits, rollbacks int
}

func (u *countingUnit) InTenant(ctx context.Context, _ *kernel.Tenant, fn func(context.Context) error) error {
	err := fn(ctx)
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		u.commits++
	} else {
		u.rollbacks++
	}
	return err
}

func (u *countingUnit) counts() (int, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.commits, u.rollbacks
}

// Past the drain deadline a request still running is answered 503
// unavailable with Retry-After, and its unit of work does not commit,
// whether its handler gives up when its context ends or finishes anyway;
// one that finishes within the drain is answered and committed as usual.
func TestShutdownAnswersRequestsStillRunningWith503(t *testing.T) {
	uow := &countingUnit{}
	r := api.NewRouter(api.RouterOptions{
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(), Tracer: noop.NewTracerProvider(),
		MaxBodyBytes: 1024, Auth: tenantAuth{}, UnitOfWork: uow,
	})
	entered := make(chan struct{}, 3)
	handler := func(work func(ctx context.Context) error) api.Handler {
		return api.JSONNoContent(func(c *gin.Context, _ *struct{}) error {
			entered <- struct{}{}
			return work(c.Request.Context())
		})
	}
	r.Handle(
		// Gives up when its context ends.
		api.Route{Method: http.MethodPost, Path: "/gives-up", Access: api.Tenant, Handler: handler(func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})},
		// Ignores its context and succeeds a moment after it ended.
		api.Route{Method: http.MethodPost, Path: "/finishes", Access: api.Tenant, Handler: handler(func(ctx context.Context) error {
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond)
			return nil
		})},
		// Done within the drain.
		api.Route{Method: http.MethodPost, Path: "/quick", Access: api.Tenant, Handler: handler(func(context.Context) error {
			time.Sleep(300 * time.Millisecond)
			return nil
		})},
	)
	srv := api.NewServer("127.0.0.1:0", r, slog.New(slog.DiscardHandler))
	require.NoError(t, srv.Start(context.Background()))

	type answer struct {
		status int
		header http.Header
		body   []byte
		err    error
	}
	answers := map[string]chan answer{}
	for _, path := range []string{"/gives-up", "/finishes", "/quick"} {
		ch := make(chan answer, 1)
		answers[path] = ch
		go func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+srv.Addr()+path, strings.NewReader("{}")) //nolint:noctx // test
			req.Header.Set("Authorization", "Bearer x")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				ch <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			ch <- answer{resp.StatusCode, resp.Header, body, err}
		}()
	}
	for range 3 {
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the requests never reached their handlers")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, srv.Stop(ctx))
	assert.Less(t, time.Since(start), 2*time.Second, "stopped within its deadline")

	quick := <-answers["/quick"]
	require.NoError(t, quick.err)
	assert.Equal(t, http.StatusNoContent, quick.status)
	for _, path := range []string{"/gives-up", "/finishes"} {
		a := <-answers[path]
		require.NoError(t, a.err, "%s: an answer, not a cut connection", path)
		assert.Equal(t, http.StatusServiceUnavailable, a.status, path)
		assert.Equal(t, "1", a.header.Get("Retry-After"), path)
		assert.Equal(t, "application/problem+json", a.header.Get("Content-Type"), path)
		var p api.Problem
		require.NoError(t, json.Unmarshal(a.body, &p), string(a.body))
		assert.Equal(t, "unavailable", p.Code, path)
		assert.Contains(t, p.Detail, "nothing was written", path)
	}
	commits, rollbacks := uow.counts()
	assert.Equal(t, 1, commits, "only the request answered in time committed")
	assert.Equal(t, 2, rollbacks)
}
