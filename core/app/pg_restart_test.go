package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/localpg"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// privateCluster starts a PostgreSQL cluster of the test's own (the shared
// server is never restarted: other tests use it), stopped when the test
// ends, after the cores on it (cleanups run last registered first).
func privateCluster(t *testing.T) *localpg.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	// A directory the postgres user can reach when we are root (t.TempDir
	// is private to us).
	d, err := os.MkdirTemp("", "atrium-restart-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(d, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	c, err := localpg.Start(t.Context(), filepath.Join(d, "pg"), testLogger())
	if errors.Is(err, localpg.ErrNoBinaries) {
		t.Skip("no PostgreSQL server binaries on this machine")
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

// loadCall is one request of the restart test's load and its answer.
type loadCall struct {
	kind      string // "read", "write" (a user) or "plugin write" (a project)
	requestID string
	name      string // of what a write creates
	sent      time.Time
	answer
}

// loadMix sends the restart test's requests, a mix of core and plugin
// reads and writes, each with its own request ID.
type loadMix struct {
	s     *pluginServer
	admin string
	mu    sync.Mutex
	n     int
	calls []loadCall
}

func (l *loadMix) next() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return l.n
}

// one sends the next request of the mix and keeps its answer.
func (l *loadMix) one() {
	n := l.next()
	c := loadCall{requestID: fmt.Sprintf("restart-load-%05d", n), sent: time.Now()}
	var method, path string
	var body any
	switch n % 6 {
	case 0:
		c.kind, method, path = "read", http.MethodGet, "/api/v1/auth/me"
	case 1:
		c.kind, method, path = "read", http.MethodGet, "/api/v1/users?limit=5"
	case 2:
		c.kind, method, path = "read", http.MethodGet, "/api/v1/projects?limit=5"
	case 3:
		c.kind, c.name, method, path = "write", fmt.Sprintf("load-%05d@acme.test", n), http.MethodPost, "/api/v1/users"
		body = map[string]any{"email": c.name, "password": "a long enough password", "roles": []string{"member"}}
	default:
		c.kind, c.name, method, path = "plugin write", fmt.Sprintf("load project %05d", n), http.MethodPost, "/api/v1/projects"
		body = map[string]any{"name": c.name}
	}
	c.answer = l.s.sendWithID(method, path, l.admin, c.requestID, body)
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
}

// run sends about perSecond requests a second from a few clients until
// stop is closed. Each client waits for its answer: on a machine too
// slow for the load (the race detector) the load eases rather than
// piling up into timeouts that say nothing of the database.
func (l *loadMix) run(perSecond int, stop <-chan struct{}) (wait func()) {
	const clients = 5
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			tick := time.NewTicker(time.Second * clients / time.Duration(perSecond))
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					l.one()
				}
			}
		})
	}
	return wg.Wait
}

// sendWithID is send with the request's X-Request-ID set to id.
func (s *server) sendWithID(method, path, token, id string, body any) answer {
	var r io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		return answer{body: []byte(err.Error())}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Request-ID", id)
	start := time.Now()
	resp, err := (&http.Client{Timeout: 2 * faultBound}).Do(req)
	if err != nil {
		return answer{body: []byte(err.Error()), took: time.Since(start)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{body: []byte(err.Error()), took: time.Since(start)}
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: raw, took: time.Since(start)}
}

// recoveryBound is how soon after PostgreSQL is back every request must
// succeed again: the pools find their dead connections and open new ones
// by themselves, with no operator and no restart of the core.
const recoveryBound = 5 * time.Second

// PostgreSQL really stopped (pg_ctl -m fast) and started again under a
// steady load of core and plugin reads and writes: every request during
// the outage answers 503 with Retry-After within its deadline, never a
// 500; every request sent a few seconds after the server's return
// succeeds; every write that succeeded is there with its audit record and
// none that failed is; the audit chain verifies; and a change made after
// the restart is in force on a second core (its listener reconnected).
func TestPostgresRestartedUnderLoad(t *testing.T) {
	cluster := privateCluster(t)
	const requestTimeout = 15 * time.Second
	s := startPluginCore(t, func(c *config.Config) {
		c.DatabaseURL = cluster.URL()
		c.DatabaseDirectURL = ""
		c.DBAcquireTimeout = time.Second
		c.RequestTimeout = requestTimeout
	})
	s.install("projects", "projects")
	s.mustRegister("projects", "projects")
	admin := s.tenant("acme", "projects")
	// A second core on the same cluster, with a user signed in to it.
	other := startCore(t, cluster.URL(), func(c *config.Config) {
		c.PluginDir = s.dir
		c.AuditCheckpointInterval = 0
	})
	var target struct{ ID string }
	s.call(http.MethodPost, "/api/v1/users", admin, map[string]any{
		"email": "watched@acme.test", "password": "a long enough password", "roles": []string{"member"},
	}).want(t, http.StatusCreated, &target)
	status, watched := other.login("acme", "watched@acme.test", "a long enough password")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, http.StatusOK, other.send(http.MethodGet, "/api/v1/auth/me", watched, nil).status)

	load := &loadMix{s: s, admin: admin}
	stop := make(chan struct{})
	wait := load.run(50, stop)
	time.Sleep(500 * time.Millisecond)
	down := time.Now()
	require.NoError(t, cluster.Stop(t.Context()))
	time.Sleep(2 * time.Second)
	require.NoError(t, cluster.Restart(t.Context()))
	back := time.Now()
	time.Sleep(recoveryBound + time.Second) // load past the bound
	close(stop)
	wait()
	t.Logf("PostgreSQL down %s (pg_ctl stop -m fast to pg_ctl start -w returned)", back.Sub(down).Round(time.Millisecond))

	// What the clients saw.
	var failed, outage int
	var lastFailure time.Time
	for _, c := range load.calls {
		what := fmt.Sprintf("%s %s (sent %s after the stop)", c.kind, c.requestID, c.sent.Sub(down).Round(time.Millisecond))
		assert.Less(t, c.took, requestTimeout, "%s: within the request deadline", what)
		if c.status < 300 {
			continue
		}
		failed++
		if end := c.sent.Add(c.took); end.After(lastFailure) {
			lastFailure = end
		}
		if c.sent.After(down.Add(-time.Second)) && c.sent.Before(back) {
			outage++
		}
		codes := []string{"unavailable"}
		if c.kind != "read" { // its own record cannot be written either
			codes = append(codes, "audit_unavailable")
		}
		wantUnavailable(t, what, c.answer, codes...)
		assert.Less(t, c.sent, back.Add(recoveryBound), "%s: sent %s after the server was back: %s", what, recoveryBound, c)
	}
	require.NotZero(t, outage, "requests met the outage")
	recovery := time.Duration(0)
	if lastFailure.After(back) {
		recovery = lastFailure.Sub(back)
	}
	t.Logf("%d requests (%d failed, each a 503 with Retry-After); the last failure ended %s after the server was back",
		len(load.calls), failed, recovery.Round(time.Millisecond))

	// What the database kept: every write that succeeded with its audit
	// record, no other.
	schema := postgrestest.Exec(t, cluster.URL(), "SELECT schema_name FROM atrium.tenants WHERE slug = 'acme'")
	set := func(sql string) map[string]bool {
		m := map[string]bool{}
		for v := range strings.SplitSeq(postgrestest.Exec(t, cluster.URL(), "SELECT coalesce(string_agg(v, E'\\n'), '') FROM ("+sql+") s(v)"), "\n") {
			m[v] = true
		}
		return m
	}
	users := set("SELECT email FROM " + schema + ".users")
	projects := set("SELECT name FROM " + schema + ".projects")
	records := set("SELECT request_id FROM " + schema + ".audit_log WHERE outcome = 'success'")
	writes := 0
	for _, c := range load.calls {
		if c.kind == "read" {
			continue
		}
		writes++
		row := users[c.name]
		if c.kind == "plugin write" {
			row = projects[c.name]
		}
		ok := c.status < 300
		assert.Equal(t, ok, row, "%s %s answered %s: its row kept exactly when it succeeded", c.kind, c.requestID, c)
		assert.Equal(t, ok, records[c.requestID], "%s %s answered %d: its audit record kept exactly when it succeeded", c.kind, c.requestID, c.status)
	}
	require.NotZero(t, writes)

	var v audit.Verification
	s.call(http.MethodGet, "/api/v1/audit/verify", admin, nil).want(t, http.StatusOK, &v)
	assert.True(t, v.OK, v.Problem)

	// A change after the restart is in force on the other core: its
	// listener is back on the restarted server.
	s.call(http.MethodPatch, "/api/v1/users/"+target.ID, admin, map[string]any{"status": "disabled"}).want(t, http.StatusOK, nil)
	require.Eventually(t, func() bool {
		return other.send(http.MethodGet, "/api/v1/auth/me", watched, nil).status == http.StatusUnauthorized
	}, 5*time.Second, 20*time.Millisecond, "the other core refuses the disabled user's token")
}
