package app_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/events"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/tenancy"
)

type appliedEvent struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	N       int64  `json:"n"`
	Attempt int64  `json:"attempt"`
}

// eventsCore starts a core running the projects and relay plugins, with a
// tenant that enables both; it returns the core and the admin's token.
func eventsCore(t *testing.T, slug string, change func(*config.Config)) (*pluginServer, string) {
	t.Helper()
	s := startPluginCore(t, func(c *config.Config) {
		c.EventRetryBase = 50 * time.Millisecond
		c.EventRetryMax = 200 * time.Millisecond
		if change != nil {
			change(c)
		}
	})
	s.install("projects", "projects")
	s.install("relayplugin", "relay")
	s.mustRegister("projects", "projects")
	s.mustRegister("relay", "relay")
	return s, s.tenant(slug, "projects", "relay")
}

func (s *pluginServer) applied(token string) []appliedEvent {
	s.t.Helper()
	var out struct {
		Items []appliedEvent `json:"items"`
	}
	s.call(http.MethodGet, "/api/v1/relay/applied", token, nil).want(s.t, http.StatusOK, &out)
	return out.Items
}

// waitApplied waits until the relay applied n events (of any type).
func (s *pluginServer) waitApplied(token string, n int, within time.Duration) []appliedEvent {
	s.t.Helper()
	var got []appliedEvent
	deadline := time.Now().Add(within)
	for {
		// A plugin restarting answers 503 meanwhile.
		var out struct {
			Items []appliedEvent `json:"items"`
		}
		if r := s.call(http.MethodGet, "/api/v1/relay/applied", token, nil); r.err == nil && r.status == http.StatusOK {
			require.NoError(s.t, json.Unmarshal(r.body, &out))
			got = out.Items
		}
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *pluginServer) eventList(token, query string) events.Page {
	s.t.Helper()
	var page events.Page
	s.call(http.MethodGet, "/api/v1/events"+query, token, nil).want(s.t, http.StatusOK, &page)
	return page
}

// A project deleted in projects reaches the relay's subscription within a
// second of the commit, and the event list shows it delivered.
func TestEventProjectDeletedReachesSubscriberWithinASecond(t *testing.T) {
	t.Parallel()
	s, admin := eventsCore(t, "evdel", nil)
	var p struct {
		ID string `json:"id"`
	}
	s.call(http.MethodPost, "/api/v1/projects", admin, map[string]any{"name": "Doomed"}).want(t, http.StatusCreated, &p)
	start := time.Now()
	s.call(http.MethodDelete, "/api/v1/projects/"+p.ID, admin, nil).want(t, http.StatusNoContent, nil)
	got := s.waitApplied(admin, 1, 5*time.Second)
	took := time.Since(start)
	require.Len(t, got, 1)
	assert.Equal(t, "projects.project.deleted", got[0].Type)
	assert.Less(t, took, time.Second, "from the DELETE's answer to the subscriber's commit")
	t.Logf("project deleted -> subscriber applied in %s", took)

	page := s.eventList(admin, "?type=projects.project.deleted")
	require.Len(t, page.Items, 1)
	ev := page.Items[0]
	assert.Equal(t, got[0].EventID, ev.ID.String())
	assert.Equal(t, "projects", ev.Source)
	assert.JSONEq(t, `{"id":"`+p.ID+`"}`, string(ev.Payload))
	require.Len(t, ev.Deliveries, 1)
	assert.Equal(t, "plugin:relay", ev.Deliveries[0].Subscriber)
	assert.Equal(t, events.StatusDelivered, ev.Deliveries[0].Status)
	// Every change of projects is an event; created has no subscriber.
	all := s.eventList(admin, "")
	require.Len(t, all.Items, 2)
	assert.Equal(t, "projects.project.created", all.Items[1].Type)
	assert.Empty(t, all.Items[1].Deliveries)

	// Admin only.
	s.createUser(admin, "mia@evdel.test", "member")
	_, member := s.login("evdel", "mia@evdel.test", userPassword)
	s.call(http.MethodGet, "/api/v1/events", member, nil).problem(t, http.StatusForbidden, "forbidden")
	s.call(http.MethodGet, "/api/v1/webhooks", member, nil).problem(t, http.StatusForbidden, "forbidden")
	// Bad queries write nothing and say why.
	s.call(http.MethodGet, "/api/v1/events?status=lost", admin, nil).problem(t, http.StatusBadRequest, "invalid_query")
	s.call(http.MethodGet, "/api/v1/events?limit=0", admin, nil).problem(t, http.StatusBadRequest, "invalid_query")
	s.call(http.MethodGet, "/api/v1/events?cursor=nonsense", admin, nil).problem(t, http.StatusBadRequest, "invalid_cursor")
	one := s.eventList(admin, "?limit=1")
	require.Len(t, one.Items, 1)
	require.NotEmpty(t, one.NextCursor)
	next := s.eventList(admin, "?limit=1&cursor="+one.NextCursor)
	require.Len(t, next.Items, 1)
	assert.Equal(t, "projects.project.created", next.Items[0].Type)
	assert.Empty(t, next.NextCursor)
}

// The events of a request that fails are never written, let alone
// delivered; nor are undeclared types or payloads off their schema.
func TestEventsOfARolledBackRequestAreNeverDelivered(t *testing.T) {
	t.Parallel()
	s, admin := eventsCore(t, "evroll", nil)
	s.call(http.MethodPost, "/api/v1/relay", admin, map[string]any{"count": 3, "start": 1, "rollback": true}).problem(t, http.StatusInternalServerError, "internal")
	s.call(http.MethodPost, "/api/v1/relay/undeclared", admin, nil).problem(t, http.StatusInternalServerError, "internal")
	s.call(http.MethodPost, "/api/v1/relay/badpayload", admin, nil).problem(t, http.StatusInternalServerError, "internal")
	s.call(http.MethodPost, "/api/v1/relay", admin, map[string]any{"count": 1, "start": 100}).want(t, http.StatusNoContent, nil)
	s.waitApplied(admin, 1, 5*time.Second)
	time.Sleep(300 * time.Millisecond) // anything else would have come by now
	got := s.applied(admin)
	require.Len(t, got, 1)
	assert.EqualValues(t, 100, got[0].N)
	schema := tenancy.SchemaName("evroll")
	assert.Equal(t, "1", postgrestest.Exec(t, s.db, "SELECT count(*) FROM "+schema+".outbox"), "only the committed event is in the outbox")
}

// A subscriber that crashes in the middle of an event gets it again once
// restarted, and the event is applied once.
func TestEventSubscriberCrashingMidEventIsRedeliveredAndAppliedOnce(t *testing.T) {
	t.Parallel()
	s, admin := eventsCore(t, "evcrash", nil)
	pid := s.plugin("relay").PID
	s.call(http.MethodPost, "/api/v1/relay", admin, map[string]any{"count": 1, "start": 7, "crash": true}).want(t, http.StatusNoContent, nil)
	s.waitRestarted("relay", pid)
	s.waitApplied(admin, 1, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	got := s.applied(admin)
	require.Len(t, got, 1, "applied once: the crashed attempt's write rolled back")
	assert.EqualValues(t, 7, got[0].N)
	assert.EqualValues(t, 2, got[0].Attempt, "the second delivery applied it")
	page := s.eventList(admin, "?status=delivered")
	require.Len(t, page.Items, 1)
}

// A subscriber that keeps failing has the event parked after the allowed
// attempts; an admin's retry, audited, delivers it once it works again.
func TestEventFailingSubscriberIsParkedThenRetriedByAdmin(t *testing.T) {
	t.Parallel()
	s, admin := eventsCore(t, "evpark", func(c *config.Config) { c.EventMaxAttempts = 3 })
	s.call(http.MethodPost, "/api/v1/relay/mode", admin, map[string]any{"fail": true}).want(t, http.StatusNoContent, nil)
	s.call(http.MethodPost, "/api/v1/relay", admin, map[string]any{"count": 1, "start": 42}).want(t, http.StatusNoContent, nil)

	var parked events.Record
	require.Eventually(t, func() bool {
		page := s.eventList(admin, "?status=failed")
		if len(page.Items) == 1 {
			parked = page.Items[0]
		}
		return len(page.Items) == 1
	}, 10*time.Second, 20*time.Millisecond)
	require.Len(t, parked.Deliveries, 1)
	d := parked.Deliveries[0]
	assert.Equal(t, events.StatusFailed, d.Status)
	assert.Equal(t, 3, d.Attempts)
	assert.Contains(t, d.LastError, "told to fail")
	assert.Empty(t, s.applied(admin))
	assert.Positive(t, s.metric(`atrium_event_dead_letters_total{kind="plugin"}`))

	// Retrying what is not parked, or nothing, is refused.
	s.call(http.MethodPost, "/api/v1/events/"+"00000000-0000-0000-0000-000000000001/retry", admin, nil).problem(t, http.StatusNotFound, "not_found")
	s.call(http.MethodPost, "/api/v1/events/nope/retry", admin, nil).problem(t, http.StatusNotFound, "not_found")

	s.call(http.MethodPost, "/api/v1/relay/mode", admin, map[string]any{"fail": false}).want(t, http.StatusNoContent, nil)
	var retried events.Record
	s.call(http.MethodPost, "/api/v1/events/"+parked.ID.String()+"/retry", admin, nil).want(t, http.StatusOK, &retried)
	assert.Equal(t, events.StatusPending, retried.Deliveries[0].Status)
	got := s.waitApplied(admin, 1, 5*time.Second)
	require.Len(t, got, 1)
	assert.EqualValues(t, 42, got[0].N)
	assert.EqualValues(t, 1, got[0].Attempt, "an admin's retry starts the attempts afresh")
	require.Eventually(t, func() bool { return len(s.eventList(admin, "?status=delivered").Items) == 1 }, 5*time.Second, 20*time.Millisecond)
	s.call(http.MethodPost, "/api/v1/events/"+parked.ID.String()+"/retry", admin, nil).problem(t, http.StatusConflict, "conflict")

	// The retry is in the tenant's audit log.
	schema := tenancy.SchemaName("evpark")
	assert.Equal(t, "1", postgrestest.Exec(t, s.db, "SELECT count(*) FROM "+schema+
		".audit_log WHERE action = 'platform.event.retry' AND outcome = 'success' AND resource_id = $1", parked.ID.String()))
}

// Two replicas on one database deliver 1,000 events: each applied exactly
// once, none lost.
func TestEventsTwoReplicasDeliverEachEventOnce(t *testing.T) {
	t.Parallel()
	a, admin := eventsCore(t, "evtwo", nil)
	cfg := testConfig(t, a.db)
	cfg.PluginDir, cfg.AuditCheckpointInterval = a.dir, 0
	var srv *api.Server
	b := fxtest.New(t, app.Options(cfg, testLogger()), fx.Populate(&srv))
	b.RequireStart()
	t.Cleanup(b.RequireStop)
	bs := &pluginServer{server: &server{t: t, base: "http://" + srv.Addr(), db: a.db}}
	require.Eventually(t, func() bool {
		r := bs.call(http.MethodGet, "/api/v1/relay/applied", admin, nil)
		return r.err == nil && r.status == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond, "replica b serves the relay")

	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := range 20 { // 20 requests of 50 events, half through each replica
		target := a
		if i%2 == 1 {
			target = bs
		}
		wg.Go(func() {
			r := target.call(http.MethodPost, "/api/v1/relay", admin, map[string]any{"count": 50, "start": i * 50})
			if r.err != nil || r.status != http.StatusNoContent {
				errs <- r.String()
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	a.waitApplied(admin, 1000, 60*time.Second)
	time.Sleep(500 * time.Millisecond)
	got := a.applied(admin)
	seen := map[int64]int{}
	ids := map[string]bool{}
	for _, e := range got {
		seen[e.N]++
		ids[e.EventID] = true
	}
	dups := len(got) - len(ids)
	lost := 0
	for n := range int64(1000) {
		if seen[n] == 0 {
			lost++
		}
	}
	t.Logf("applied %d events, %d duplicates, %d lost; replica a delivered %v, replica b %v", len(got), dups, lost,
		a.metric(`atrium_event_deliveries_total{kind="plugin",outcome="delivered"}`),
		bs.metric(`atrium_event_deliveries_total{kind="plugin",outcome="delivered"}`))
	assert.Zero(t, dups)
	assert.Zero(t, lost)
	assert.Len(t, got, 1000)
}

// verifyAtriumSignature is a receiver's check, written from docs/events.md
// alone: Atrium-Signature is "t=<unix seconds>,v1=<hex>", the hex being
// HMAC-SHA256 under the webhook's secret of "<t>.<raw body>"; reject a
// timestamp older than five minutes.
func verifyAtriumSignature(secret, header string, body []byte, now time.Time) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("no timestamp in %q", header)
	}
	if now.Sub(time.Unix(sec, 0)) > 5*time.Minute {
		return fmt.Errorf("too old")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return fmt.Errorf("bad signature")
	}
	return nil
}

// Webhooks get the stream signed; a failed attempt is retried, and each
// attempt is listed.
func TestWebhookDeliveriesAreSignedRetriedAndLogged(t *testing.T) {
	t.Parallel()
	s, admin := eventsCore(t, "evhook", func(c *config.Config) { c.WebhookAllowPrivate = true })
	type received struct {
		id, verifyErr string
		body          []byte
	}
	var mu sync.Mutex
	var got []received
	var secret string // what the API shows once
	calls := 0
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt fails
			return
		}
		rec := received{id: r.Header.Get("Atrium-Event-Id"), body: body}
		if err := verifyAtriumSignature(secret, r.Header.Get("Atrium-Signature"), body, time.Now()); err != nil {
			rec.verifyErr = err.Error()
		}
		got = append(got, rec)
	}))
	t.Cleanup(receiver.Close)

	var hook events.Webhook
	s.call(http.MethodPost, "/api/v1/webhooks", admin, map[string]any{"url": receiver.URL + "/hook", "events": []string{"relay.thing.happened"}}).
		want(t, http.StatusCreated, &hook)
	require.True(t, strings.HasPrefix(hook.Secret, "whsec_"), hook.Secret)
	mu.Lock()
	secret = hook.Secret
	mu.Unlock()
	var read events.Webhook
	s.call(http.MethodGet, "/api/v1/webhooks/"+hook.ID.String(), admin, nil).want(t, http.StatusOK, &read)
	assert.Empty(t, read.Secret, "the secret is shown once")
	assert.Equal(t, []string{"relay.thing.happened"}, read.Events)

	s.call(http.MethodPost, "/api/v1/relay", admin, map[string]any{"count": 1, "start": 5}).want(t, http.StatusNoContent, nil)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 }, 10*time.Second, 20*time.Millisecond)
	mu.Lock()
	rec := got[0]
	mu.Unlock()
	assert.Empty(t, rec.verifyErr)
	assert.Contains(t, string(rec.body), `"type":"relay.thing.happened"`)
	assert.Contains(t, string(rec.body), `"data":{"n":5}`)
	// A tampered body does not verify.
	require.Error(t, verifyAtriumSignature(hook.Secret, "t=1,v1=00", rec.body, time.Unix(1, 0)))

	var attempts api.WebhookAttemptList
	s.call(http.MethodGet, "/api/v1/webhooks/"+hook.ID.String()+"/deliveries", admin, nil).want(t, http.StatusOK, &attempts)
	require.Len(t, attempts.Items, 2)
	assert.Equal(t, http.StatusOK, attempts.Items[0].StatusCode)
	assert.Equal(t, 2, attempts.Items[0].Attempt)
	assert.Equal(t, rec.id, attempts.Items[0].EventID.String())
	assert.Equal(t, http.StatusServiceUnavailable, attempts.Items[1].StatusCode)
	assert.NotEmpty(t, attempts.Items[1].Error)

	s.call(http.MethodDelete, "/api/v1/webhooks/"+hook.ID.String(), admin, nil).want(t, http.StatusNoContent, nil)
	s.call(http.MethodGet, "/api/v1/webhooks/"+hook.ID.String(), admin, nil).problem(t, http.StatusNotFound, "not_found")
}

// Webhook URLs in loopback, private and link-local ranges are refused, in
// any spelling, and write nothing.
func TestWebhookURLsToPrivateAddressesAreRefused(t *testing.T) {
	t.Parallel()
	s, admin := eventsCore(t, "evssrf", nil)
	for _, u := range []string{
		"http://127.0.0.1/", "http://127.1/", "http://0x7f.0.0.1/", "http://2130706433/", "http://0177.0.0.1/",
		"http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://localhost:8080/",
		"http://10.1.2.3/", "http://192.168.0.1/", "http://172.16.0.1/", "http://169.254.169.254/latest/meta-data",
		"http://[fe80::1]/", "http://0.0.0.0/", "http://100.64.0.1/", "ftp://example.com/", "http://user:pw@example.com/",
	} {
		r := s.call(http.MethodPost, "/api/v1/webhooks", admin, map[string]any{"url": u, "events": []string{"*"}})
		r.problem(t, http.StatusUnprocessableEntity, "validation_failed")
	}
	s.call(http.MethodPost, "/api/v1/webhooks", admin, map[string]any{"url": "https://example.com/", "events": []string{"not a type"}}).
		problem(t, http.StatusUnprocessableEntity, "validation_failed")
	var list api.WebhookList
	s.call(http.MethodGet, "/api/v1/webhooks", admin, nil).want(t, http.StatusOK, &list)
	assert.Empty(t, list.Items)
}

// No plugin reaches the events' tables: its SQL is refused, in any
// spelling, and PostgreSQL grants its roles nothing on them but the two
// signed functions, which refuse what the core did not sign.
func TestPluginCannotReachTheOutboxOrInbox(t *testing.T) {
	t.Parallel()
	s, admin := eventsCore(t, "evwall", nil)
	s.call(http.MethodPost, "/api/v1/relay", admin, map[string]any{"count": 1, "start": 1}).want(t, http.StatusNoContent, nil)
	s.waitApplied(admin, 1, 5*time.Second)
	schema := tenancy.SchemaName("evwall")
	snapshot := func() string {
		return postgrestest.Exec(t, s.db, "SELECT (SELECT count(*) FROM "+schema+".outbox)::text || '/' || (SELECT count(*) FROM "+
			schema+".inbox) || '/' || (SELECT string_agg(status, ',') FROM "+schema+".outbox_deliveries) || '/' || (SELECT count(*) FROM "+
			schema+".webhooks)")
	}
	before := snapshot()
	for _, sql := range []string{
		"SELECT * FROM outbox",
		`SELECT * FROM "outbox"`,
		"SELECT * FROM " + schema + ".outbox",
		`SELECT * FROM "` + schema + `"."inbox"`,
		"SELECT * FROM EVENT_DELIVERIES",
		"SELECT * FROM webhooks",
		"SELECT secret FROM webhooks",
		"INSERT INTO outbox (event_id, type, source, payload, occurred_at) VALUES (gen_random_uuid(), 'relay.thing.happened', 'relay', '{}', now()) RETURNING id",
		"INSERT INTO inbox (subscriber, event_id, handled_at) VALUES ('plugin:relay', gen_random_uuid(), now()) RETURNING 1",
		"UPDATE outbox_deliveries SET status = 'pending' RETURNING 1",
		"DELETE FROM outbox RETURNING 1",
		"DELETE FROM inbox RETURNING 1",
		"WITH x AS (DELETE FROM inbox RETURNING 1) SELECT * FROM x",
		"SELECT events_append('{}', '\\x00'::bytea)",
		"SELECT " + schema + ".events_handled('{\"subscriber\":\"plugin:relay\"}', sha256('x'))",
		"INSERT INTO webhooks (id, url, events, secret, created_at) VALUES (gen_random_uuid(), 'http://x', '{*}', 's', now()) RETURNING 1",
	} {
		r := s.call(http.MethodPost, "/api/v1/relay/sql", admin, map[string]any{"sql": sql})
		require.NoError(t, r.err)
		assert.GreaterOrEqual(t, r.status, 400, "%s: %s", sql, r.body)
	}
	assert.Equal(t, before, snapshot(), "nothing changed")

	// What PostgreSQL itself lets the plugin's roles do.
	roles := postgrestest.Exec(t, s.db, `SELECT owner_role || ',' || runtime_role FROM atrium.tenant_plugin_roles r
		JOIN atrium.tenants t ON t.id = r.tenant_id WHERE t.slug = 'evwall' AND r.plugin = 'relay'`)
	for role := range strings.SplitSeq(roles, ",") {
		for _, tbl := range []string{"outbox", "outbox_deliveries", "inbox", "webhooks", "webhooks_deliveries"} {
			for _, priv := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"} {
				assert.Equal(t, "false", postgrestest.Exec(t, s.db, "SELECT has_table_privilege($1, $2, $3)", role, schema+"."+tbl, priv),
					"%s %s %s", role, priv, tbl)
			}
		}
	}
	// A forged record is refused by the functions themselves, run as the
	// runtime role (the SQL guard aside).
	runtime := strings.Split(roles, ",")[1]
	forged := `{"event_id":"6f1d7f2e-8a4c-4f5e-9a51-0c1f2b3d4e5f","tenant_id":"00000000-0000-0000-0000-000000000000",` +
		`"type":"relay.thing.happened","source":"relay","payload":{"n":9},"subscribers":["relay"]}`
	for _, call := range []string{
		"PERFORM " + schema + ".events_append('" + forged + "', sha256(convert_to('event:" + forged + "', 'UTF8')))",
		"PERFORM " + schema + ".events_append('" + forged + "', '\\x00'::bytea)",
		"PERFORM " + schema + `.events_handled('{"subscriber":"plugin:relay","event_id":"6f1d7f2e-8a4c-4f5e-9a51-0c1f2b3d4e5f","outbox_id":1}', sha256('x'))`,
	} {
		postgrestest.Script(t, s.db, `DO $$ BEGIN
			EXECUTE 'SET LOCAL ROLE "`+runtime+`"';
			BEGIN
				`+call+`;
				RAISE EXCEPTION 'a forged record was accepted';
			EXCEPTION WHEN insufficient_privilege THEN
				IF SQLERRM NOT LIKE '%not signed by the core%' THEN RAISE; END IF;
			END;
		END $$`)
	}
	assert.Equal(t, before, snapshot())
}
