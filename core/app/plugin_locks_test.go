package app_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// One tenant's lock costs only that tenant's requests. Another transaction
// holds a row of acme's that acme's requests want to update: each waits on
// it, in its SQL, past the call deadline, and gets a 504 timeout. The
// plugin, which was waiting on the host and not hung, keeps running (the
// same process, no restart, the breaker closed: more such timeouts than it
// takes crashes to open it), and globex's requests succeed throughout.
// Once the lock goes, acme's requests work again.
func TestOneTenantsLockDoesNotTakeThePluginDown(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, func(c *config.Config) { c.PluginTimeout = time.Second })
	s.install("testplugin", "testplugin")
	reg := s.mustRegister("testplugin", "testplugin")
	acme, globex := s.tenant("acme", "testplugin"), s.tenant("globex", "testplugin")
	for _, token := range []string{acme, globex} {
		s.call(http.MethodPost, "/api/v1/testplugin/items", token, map[string]any{"name": "one"}).want(t, http.StatusCreated, nil)
		s.call(http.MethodPost, "/api/v1/testplugin/items/1/touch", token, nil).want(t, http.StatusOK, nil)
	}
	restarts := s.metric(`atrium_plugin_restarts_total{plugin="testplugin"}`)

	release := postgrestest.Lock(t, s.db, "SELECT * FROM t_acme.testplugin_items WHERE id = 1 FOR UPDATE")
	stop := make(chan struct{})
	var others sync.WaitGroup
	others.Go(func() { // globex, all along
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := s.call(http.MethodPost, "/api/v1/testplugin/items/1/touch", globex, nil)
			assert.Equal(t, http.StatusOK, r.status, "globex while acme waits: %s", r)
			time.Sleep(20 * time.Millisecond)
		}
	})
	const waves, perWave = 2, 4 // 8 timeouts: past the breaker's 5
	for range waves {
		results := make(chan result, perWave)
		for range perWave {
			go func() { results <- s.call(http.MethodPost, "/api/v1/testplugin/items/1/touch", acme, nil) }()
		}
		for range perWave {
			r := <-results
			r.problem(t, http.StatusGatewayTimeout, "timeout")
		}
	}
	close(stop)
	others.Wait()

	p := s.plugin("testplugin")
	assert.Equal(t, "running", p.State)
	assert.Equal(t, reg.PID, p.PID, "the same process")
	assert.Zero(t, p.Restarts)
	assert.Equal(t, restarts, s.metric(`atrium_plugin_restarts_total{plugin="testplugin"}`))
	assert.Empty(t, s.logs.find("plugin did not answer in time; killing it"))
	assert.Equal(t, "0", postgrestest.Exec(t, s.db, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'`), "no statement still waits on the lock")
	s.healthy(acme)

	release()
	s.call(http.MethodPost, "/api/v1/testplugin/items/1/touch", acme, nil).want(t, http.StatusOK, nil)
	s.call(http.MethodPost, "/api/v1/testplugin/items/1/touch", globex, nil).want(t, http.StatusOK, nil)
}
