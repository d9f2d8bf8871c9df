package pluginhost

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// The statements of judgedSQL: one the host ends at the request's deadline
// (as PostgreSQL's cancel does), one it ends only when the test lets it (a
// host stuck past the grace), one it answers at once.
const (
	sqlEndsAtDeadline = "UPDATE judged SET n = 1"
	sqlStuck          = "UPDATE judged SET n = 2"
	sqlQuick          = "UPDATE judged SET n = 3"
)

type judgedSQL struct {
	stubSQL
	release <-chan struct{}
}

func (s judgedSQL) Exec(ctx context.Context, _, sql string, _ []any) (int64, error) {
	switch sql {
	case sqlEndsAtDeadline:
		<-ctx.Done()
		return 0, sdk.Timeout("the statement did not finish before the request's deadline")
	case sqlStuck:
		<-s.release
	}
	return 1, nil
}

// judgedPlugin's handlers each misbehave in one way; none returns before
// release is closed unless it gives up at its deadline.
func judgedPlugin(release <-chan struct{}) sdk.Plugin {
	exec := func(ctx context.Context, c *sdk.Context, sql string) error {
		_, err := c.DB().Exec(ctx, sql)
		return err
	}
	hang := func() { <-release }
	routes := map[string]sdk.HandlerFunc{
		// Its SQL waits (on a lock) past the deadline, and the host ends it there.
		"/locked": func(c *sdk.Context) error { return exec(c, c, sqlEndsAtDeadline) },
		// Waits for its SQL past the deadline and the grace: the host is
		// stuck.
		"/stuck": func(c *sdk.Context) error { return exec(context.WithoutCancel(c), c, sqlStuck) },
		// Gives up at its deadline, having asked the host nothing.
		"/sleep": func(c *sdk.Context) error { <-c.Done(); return c.Err() },
		// Ignores its deadline, having asked the host nothing.
		"/hang": func(*sdk.Context) error { hang(); return nil },
		// Asks the host once, at once, then ignores its deadline.
		"/quick-then-hang": func(c *sdk.Context) error {
			if err := exec(c, c, sqlQuick); err != nil {
				return err
			}
			hang()
			return nil
		},
		// Keeps calling the host after its deadline, ignoring it: busy,
		// but not waiting on the host.
		"/busy": func(c *sdk.Context) error {
			<-c.Done()
			for {
				select {
				case <-release:
					return nil
				case <-time.After(10 * time.Millisecond):
					_ = exec(context.WithoutCancel(c), c, sqlQuick)
				}
			}
		},
	}
	p := sdk.Plugin{Name: "judged", Version: "1.0.0",
		Permissions: []sdk.Permission{{Name: "judged.item.read", Description: "Read"}}}
	for path, h := range routes {
		p.Routes = append(p.Routes, sdk.Route{Method: http.MethodGet, Path: path, Permission: "judged.item.read", Handler: h})
	}
	return p
}

type noCatalog struct{}

func (noCatalog) List(context.Context) ([]Entry, error)    { return nil, nil }
func (noCatalog) Put(context.Context, Entry) error         { return nil }
func (noCatalog) Add(context.Context, Entry) (bool, error) { return false, nil }
func (noCatalog) Delete(context.Context, string) error     { return nil }

type anyPermissions struct{}

func (anyPermissions) Declare(string, []sdk.Permission) error { return nil }
func (anyPermissions) Check(string, []sdk.Permission) error   { return nil }

type noMigrations struct{}

func (noMigrations) Migrate(context.Context, []sdk.Manifest) error { return nil }

const (
	judgedTimeout = 400 * time.Millisecond
	judgedGrace   = 400 * time.Millisecond
)

// TestHungOrWaitingOnTheHost: a plugin that does not answer by its
// deadline is killed only if it hangs: not while its host call is in
// flight past the deadline (the host's fault, or the data's), and not when
// it answered. The client gets a 504 either way: timeout for a request
// that waited on the host, plugin_timeout for the plugin's own.
func TestHungOrWaitingOnTheHost(t *testing.T) {
	for _, tc := range []struct {
		path   string
		code   string
		killed bool
		took   time.Duration // at least
	}{
		{"/locked", "timeout", false, judgedTimeout},
		{"/stuck", "timeout", false, judgedTimeout + judgedGrace},
		{"/sleep", "plugin_timeout", false, judgedTimeout},
		{"/hang", "plugin_timeout", true, judgedTimeout + judgedGrace},
		{"/quick-then-hang", "plugin_timeout", true, judgedTimeout + judgedGrace},
		{"/busy", "plugin_timeout", true, judgedTimeout + judgedGrace},
	} {
		t.Run(tc.path[1:], func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			h := New(Options{Catalog: noCatalog{}, Permissions: anyPermissions{}, Migrator: noMigrations{},
				Attached: []AttachedPlugin{judgedPlugin(release)}, CallTimeout: judgedTimeout, HangGrace: judgedGrace,
				Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, h.Start(t.Context()))
			t.Cleanup(func() { _ = h.Stop(context.Background()) })

			m, found := h.Match(http.MethodGet, Prefix+"judged"+tc.path)
			require.Equal(t, Matched, found)
			p, _ := h.get("judged")
			conn, err := p.current()
			require.NoError(t, err)
			svc := Services{SQL: judgedSQL{release: release}}.For("judged", &kernel.Tenant{ID: uuid.New()},
				func(context.Context, string, sdk.Resource) (bool, error) { return true, nil }, nil)

			start := time.Now()
			_, err = h.Call(t.Context(), m, &transport.Request{Method: http.MethodGet, Path: tc.path}, svc)
			took := time.Since(start)
			var ke *kernel.Error
			require.True(t, errors.As(err, &ke), "%v", err)
			assert.Equal(t, kernel.KindTimeout, ke.Kind, "%v", err)
			assert.Equal(t, tc.code, cmpCode(ke), "%v", err)
			assert.GreaterOrEqual(t, took, tc.took)
			assert.Less(t, took, tc.took+judgedGrace)
			assert.Equal(t, tc.killed, conn.Exited(), "killed")
		})
	}
}

// cmpCode is the problem code the client gets: the error's own, or its
// kind's.
func cmpCode(e *kernel.Error) string {
	if e.Code != "" {
		return e.Code
	}
	return e.Kind.String()
}

// A host call counts while it runs, if it began before the deadline: one
// made after it is the plugin working past its deadline, not waiting.
func TestHostWorkCountsCallsInFlightAtTheDeadline(t *testing.T) {
	deadline := time.Now().Add(100 * time.Millisecond)
	w := newHostWork(nil, deadline)
	assert.False(t, w.waitedOnHost(), "no call")

	w.begin()()
	assert.False(t, w.waitedOnHost(), "a call that ended before the deadline")

	end := w.begin()
	assert.True(t, w.waitedOnHost(), "a call in flight")
	time.Sleep(time.Until(deadline))
	end()
	assert.True(t, w.waitedOnHost(), "a call that ended after the deadline")

	late := newHostWork(nil, time.Now())
	end = late.begin()
	assert.False(t, late.waitedOnHost(), "a call begun after the deadline")
	end()
	assert.False(t, late.waitedOnHost())
}
