package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// faultBound is how long any request may take while the database is
// unreachable: the acquire timeout of these tests and a connect timeout
// (5 s), with room for a busy machine. A hung request fails the test.
const faultBound = 10 * time.Second

// answer is one HTTP exchange of the fault tests.
type answer struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

func (a answer) String() string { return string(a.body) }

// send sends body as JSON with token and gives up after twice faultBound
// (a hang is status 0, its error the body). It does not fail the test
// itself, so goroutines may use it.
func (s *server) send(method, path, token string, body any) answer {
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
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
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

// wantUnavailable checks a 503 problem with Retry-After, one of codes,
// answered within faultBound.
func wantUnavailable(t *testing.T, what string, a answer, codes ...string) api.Problem {
	t.Helper()
	assert.Equal(t, http.StatusServiceUnavailable, a.status, "%s: %s", what, a)
	assert.NotEmpty(t, a.header.Get("Retry-After"), "%s: Retry-After", what)
	assert.Less(t, a.took, faultBound, "%s answered in bounded time", what)
	var p api.Problem
	if assert.NoError(t, json.Unmarshal(a.body, &p), "%s: %s", what, a) {
		assert.Contains(t, codes, p.Code, "%s: %s", what, a)
		assert.NotEmpty(t, p.Detail, "%s: %s", what, a)
	}
	return p
}

// faultRequests are the requests every fault test sends: core reads, a core
// write, the operator's tenant list (the pool outside any unit of work) and
// both sign-ins.
type faultRequests struct {
	s         *server
	op, admin string
}

// each sends them (the write when it names a new user's email) and hands
// each answer to check with the problem codes it may carry.
func (f faultRequests) each(t *testing.T, write string, check func(what string, a answer, codes ...string)) {
	t.Helper()
	s := f.s
	check("read: me", s.send(http.MethodGet, "/api/v1/auth/me", f.admin, nil), "unavailable")
	check("read: users", s.send(http.MethodGet, "/api/v1/users", f.admin, nil), "unavailable")
	check("read: tenants", s.send(http.MethodGet, "/api/v1/tenants", f.op, nil), "unavailable")
	if write != "" {
		// A failed write's own record cannot be written either: the
		// request fails with the audit log's code (or before it, with the
		// database's).
		check("write: create user", f.createUser(write), "audit_unavailable", "unavailable")
	}
	check("sign in", s.send(http.MethodPost, "/api/v1/auth/login", "", map[string]string{
		"tenant": "acme", "email": "admin@acme.test", "password": adminPassword,
	}), "unavailable")
	check("operator sign in", s.send(http.MethodPost, "/api/v1/operator/login", "", map[string]string{
		"email": operatorEmail, "password": operatorPassword,
	}), "unavailable")
}

// startFaultCore starts a core on dbURL (change adjusts its configuration)
// with tenant acme, and returns the fault requests signed in to it.
func startFaultCore(t *testing.T, dbURL string, change func(*config.Config)) faultRequests {
	t.Helper()
	s := startCore(t, dbURL, func(c *config.Config) {
		c.AuditCheckpointInterval = 0
		change(c)
	})
	op := s.operatorToken()
	s.createTenant(op, "acme")
	status, admin := s.login("acme", "admin@acme.test", adminPassword)
	require.Equal(t, http.StatusOK, status)
	return faultRequests{s: s, op: op, admin: admin}
}

// schema is acme's schema, read from the database at adminURL.
func (f faultRequests) schema(adminURL string) string {
	return postgrestest.Exec(f.s.t, adminURL, "SELECT schema_name FROM atrium.tenants WHERE slug = 'acme'")
}

func (f faultRequests) createUser(email string) answer {
	return f.s.send(http.MethodPost, "/api/v1/users", f.admin, map[string]any{
		"email": email, "password": "a long enough password", "roles": []string{"member"},
	})
}

// recovered waits (briefly) for the pool to serve again: the first request
// after an outage may still meet a connection that died in it.
func (f faultRequests) recovered(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		return f.s.send(http.MethodGet, "/api/v1/auth/me", f.admin, nil).status == http.StatusOK
	}, faultBound, 100*time.Millisecond, "the pool recovers once the database is back")
	f.each(t, "", func(what string, a answer, _ ...string) {
		assert.Contains(t, []int{http.StatusOK}, a.status, "%s after recovery: %s", what, a)
	})
}

// Requests while PostgreSQL is down, starting up, or unreachable answer
// 503 with Retry-After in bounded time, never 500 and never a hang;
// nothing is written; once the database is back the same requests succeed
// on the same app, and the audit chain verifies.
func TestRequestsDuringADatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	proxy, dbURL := postgrestest.NewProxy(t, postgrestest.NewDatabase(t))
	f := startFaultCore(t, dbURL, func(c *config.Config) { c.DBAcquireTimeout = time.Second })
	t.Cleanup(func() { proxy.Set(postgrestest.Pass) }) // before the app's cleanup
	s, admin := f.s, f.admin

	faults := []struct {
		name string
		mode postgrestest.Mode
	}{
		{"down", postgrestest.Down},
		{"starting up", postgrestest.StartingUp},
		{"unreachable", postgrestest.Stall},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			email := "during-" + strings.ReplaceAll(fault.name, " ", "-") + "@acme.test"
			proxy.Set(fault.mode)
			proxy.Cut() // the connections open so far die with the server
			f.each(t, email, func(what string, a answer, codes ...string) {
				p := wantUnavailable(t, what, a, codes...)
				if p.Code == "audit_unavailable" {
					assert.Contains(t, p.Detail, "database is unavailable", what)
				}
			})

			proxy.Set(postgrestest.Pass)
			f.recovered(t)
			// Nothing of the failed write was kept: the same user is new now.
			a := f.createUser(email)
			assert.Equal(t, http.StatusCreated, a.status, a.String())
		})
	}

	// Connections cut while the server stays up: a request that meets a
	// dead one fails with a 503, never a 500, and the pool replaces it.
	t.Run("connections cut", func(t *testing.T) {
		f.recovered(t) // every connection freshly used, so none is pinged first
		proxy.Cut()
		f.each(t, "cut@acme.test", func(what string, a answer, codes ...string) {
			if a.status != http.StatusServiceUnavailable {
				assert.Less(t, a.status, 300, "%s: %s", what, a)
				return
			}
			wantUnavailable(t, what, a, codes...)
		})
		f.recovered(t)
	})

	var v audit.Verification
	status, raw := s.do(http.MethodGet, "/api/v1/audit/verify", admin, nil, &v)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.True(t, v.OK, v.Problem)
}

// With every connection of a small pool taken by requests stuck behind a
// lock, other requests are refused with a 503 once the acquire timeout
// passes instead of queueing; the lock released, the stuck requests finish
// (none needs a second connection to) and the pool serves again.
func TestAnExhaustedPoolShedsRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	db := postgrestest.NewDatabase(t)
	f := startFaultCore(t, db, func(c *config.Config) {
		c.DBMaxConns = 2
		c.DBAcquireTimeout = 300 * time.Millisecond
	})
	s, admin := f.s, f.admin
	schema := f.schema(db)

	// exhaust locks table and sends two of stuck, which wait for the lock
	// holding the whole pool; then check runs, and the lock is released.
	exhaust := func(table string, stuck func() answer, check func()) {
		t.Helper()
		unlock := postgrestest.Lock(t, db, "LOCK TABLE "+schema+"."+table+" IN ACCESS EXCLUSIVE MODE")
		answers := make(chan answer, 2)
		for range cap(answers) {
			go func() { answers <- stuck() }()
		}
		require.Eventually(t, func() bool {
			return postgrestest.Exec(t, db, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'atriumd'") == "2"
		}, faultBound, 20*time.Millisecond, "two requests wait for the lock on %s", table)
		check()
		unlock()
		for range cap(answers) {
			a := <-answers
			assert.Equal(t, http.StatusOK, a.status, "a request that had its connection finishes: %s", a)
		}
	}

	// Every tenant request reads the tenant's users (the token's standing).
	exhaust("users", func() answer { return s.send(http.MethodGet, "/api/v1/users", admin, nil) }, func() {
		f.each(t, "shed@acme.test", func(what string, a answer, codes ...string) {
			p := wantUnavailable(t, what, a, codes...)
			assert.Less(t, a.took, 5*time.Second, what)
			if p.Code == "unavailable" {
				assert.Equal(t, "no database connection was free within 300ms", p.Detail, what)
			}
		})
		// Many at once: each is answered, none waits on another.
		shed := make(chan answer, 8)
		for range cap(shed) {
			go func() { shed <- s.send(http.MethodGet, "/api/v1/auth/me", admin, nil) }()
		}
		for range cap(shed) {
			wantUnavailable(t, "concurrent read", <-shed, "unavailable")
		}
	})

	// Sign-ins stuck starting their session: none needs another connection
	// (for the signing key, say) to finish once the lock is gone.
	signIn := func() answer {
		return s.send(http.MethodPost, "/api/v1/auth/login", "", map[string]string{
			"tenant": "acme", "email": "admin@acme.test", "password": adminPassword,
		})
	}
	exhaust("refresh_families", signIn, func() {
		wantUnavailable(t, "sign in", signIn(), "unavailable")
	})
	// And refreshes, stuck spending their tokens.
	tokens := make(chan string, 2)
	for range cap(tokens) {
		tokens <- s.signIn("acme", "admin@acme.test", adminPassword).RefreshToken
	}
	refresh := func() answer {
		return s.send(http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": <-tokens})
	}
	exhaust("refresh_families", refresh, func() {})

	f.recovered(t)
	a := f.createUser("shed@acme.test")
	assert.Equal(t, http.StatusCreated, a.status, "nothing was written while the pool was exhausted: %s", a)
}

// A plugin's SQL that cannot reach the database (its connections are the
// plugin's own, made on first use) is the sdk's unavailable error, which
// the plugin passes on: its routes answer 503 too, and work again once the
// database is back.
func TestPluginRoutesDuringADatabaseOutage(t *testing.T) {
	var proxy *postgrestest.Proxy
	s := startPluginCore(t, func(c *config.Config) {
		var dbURL string
		proxy, dbURL = postgrestest.NewProxy(t, c.DatabaseURL)
		c.DatabaseURL = dbURL
		c.DBAcquireTimeout = time.Second
	})
	t.Cleanup(func() { proxy.Set(postgrestest.Pass) }) // before the app's cleanup
	s.install("notesplugin", "notes")
	s.mustRegister("notes", "notes")
	admin := s.tenant("acme", "notes")
	require.Equal(t, http.StatusOK, s.me(admin)) // the core's connections are open

	// New connections fail; the core's open ones still work, so the
	// request reaches the plugin, whose first SQL needs a connection.
	for _, mode := range []postgrestest.Mode{postgrestest.Down, postgrestest.StartingUp} {
		proxy.Set(mode)
		wantUnavailable(t, "plugin read", s.send(http.MethodGet, "/api/v1/notes", admin, nil), "unavailable")
		wantUnavailable(t, "plugin write", s.send(http.MethodPost, "/api/v1/notes", admin, map[string]string{"text": "lost"}), "unavailable", "audit_unavailable")
	}
	assert.GreaterOrEqual(t, s.metric(`atrium_plugin_calls_total{outcome="error",plugin="notes"}`), 4.0,
		"the plugin answered each with the error of its SQL")

	proxy.Set(postgrestest.Pass)
	var all struct{ Items []note }
	s.call(http.MethodGet, "/api/v1/notes", admin, nil).want(t, http.StatusOK, &all)
	assert.Empty(t, all.Items, "nothing was written during the outage")
	s.call(http.MethodPost, "/api/v1/notes", admin, map[string]string{"text": "back"}).want(t, http.StatusCreated, nil)
}

// A request whose database stops answering mid-statement (the server or the
// network hangs with the connection open) ends at the request timeout with
// a 504, not when TCP gives up minutes later; the connection is dropped
// and the pool serves again once the database answers.
func TestARequestTheDatabaseStopsAnsweringEndsAtItsTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	db := postgrestest.NewDatabase(t)
	proxy, dbURL := postgrestest.NewProxy(t, db)
	const timeout = 6 * time.Second // the least a plugin timeout of 1s allows
	f := startFaultCore(t, dbURL, func(c *config.Config) {
		c.PluginTimeout = time.Second
		c.RequestTimeout = timeout
		c.DBAcquireTimeout = time.Second
	})
	s, admin := f.s, f.admin
	schema := f.schema(db)

	// Requests hold their connections, waiting for a lock; the database
	// stops answering them; the lock goes, and its answers are held.
	unlock := postgrestest.Lock(t, db, "LOCK TABLE "+schema+".users IN ACCESS EXCLUSIVE MODE")
	read := make(chan answer, 1)
	write := make(chan answer, 1)
	go func() { read <- s.send(http.MethodGet, "/api/v1/users", admin, nil) }()
	go func() { write <- f.createUser("frozen@acme.test") }()
	require.Eventually(t, func() bool {
		return postgrestest.Exec(t, db, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'atriumd'") == "2"
	}, faultBound, 20*time.Millisecond, "both requests wait for the lock")
	thaw := proxy.Freeze(t)
	unlock()

	r := <-read
	assert.Equal(t, http.StatusGatewayTimeout, r.status, "read: %s", r)
	assert.Contains(t, r.String(), `"code":"timeout"`)
	assert.GreaterOrEqual(t, r.took, timeout-time.Second, "it waited for its timeout")
	assert.Less(t, r.took, timeout+3*time.Second, "and no longer")
	// A failed write's own record must be written too: with the database
	// still silent it cannot, within its own bound, and the write says so.
	w := <-write
	assert.Contains(t, []int{http.StatusGatewayTimeout, http.StatusServiceUnavailable}, w.status, "write: %s", w)
	assert.Less(t, w.took, timeout+5*time.Second, "write: bounded")

	thaw()
	f.recovered(t)
	a := f.createUser("frozen@acme.test")
	assert.Equal(t, http.StatusCreated, a.status, "the write that timed out wrote nothing: %s", a)
}
