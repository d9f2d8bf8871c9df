package events

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk"
)

func TestSignIsHMACOfTimestampDotBody(t *testing.T) {
	at := time.Unix(1700000000, 0)
	body := []byte(`{"id":"x"}`)
	m := hmac.New(sha256.New, []byte("whsec_test"))
	m.Write([]byte("1700000000." + string(body)))
	assert.Equal(t, "t=1700000000,v1="+hex.EncodeToString(m.Sum(nil)), Sign("whsec_test", at, body))
	assert.NotEqual(t, Sign("whsec_test", at, body), Sign("whsec_other", at, body))
}

func TestPublicAddresses(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1",
		"169.254.169.254", "fe80::1", "0.0.0.0", "::", "100.64.0.1", "fc00::1", "224.0.0.1", "64:ff9b::7f00:1"} {
		assert.False(t, public(netip.MustParseAddr(a)), a)
	}
	for _, a := range []string{"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"} {
		assert.True(t, public(netip.MustParseAddr(a)), a)
	}
}

// The check made when a connection is dialled, whatever the URL said: a
// name that resolved to a public address when the webhook was added and to
// loopback now (DNS rebinding) is refused there.
func TestWebhookClientRefusesToDialPrivateAddresses(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	defer srv.Close()
	hook := &Webhook{ID: uuid.New(), URL: srv.URL, Secret: "whsec_x"}
	tenant := &kernel.Tenant{Slug: "acme"}
	dl := Delivery{EventID: uuid.New(), Type: "a.b.c", Payload: []byte(`{}`), OccurredAt: time.Now()}

	a := NewWebhookClient(false, 2*time.Second).Send(context.Background(), hook, tenant, dl)
	assert.Contains(t, a.Error, "not a public address")
	assert.Zero(t, a.StatusCode)
	assert.Zero(t, hits, "no request reached the loopback receiver")

	// localhost is a name: the dial still sees 127.0.0.1.
	hook.URL = "http://localhost:" + srv.URL[len("http://127.0.0.1:"):]
	a = NewWebhookClient(false, 2*time.Second).Send(context.Background(), hook, tenant, dl)
	assert.Contains(t, a.Error, "not a public address")
	assert.Zero(t, hits)

	a = NewWebhookClient(true, 2*time.Second).Send(context.Background(), hook, tenant, dl)
	assert.Empty(t, a.Error)
	assert.Equal(t, http.StatusOK, a.StatusCode)
	assert.Equal(t, 1, hits)
}

func TestCheckURLSpellings(t *testing.T) {
	c := NewWebhookClient(false, time.Second)
	for _, u := range []string{"http://127.1/", "http://0x7f.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://localhost/",
		"http://2130706433/", "http://0177.0.0.1/", "http://017700000001/", "http://[0:0:0:0:0:ffff:7f00:1]/",
		"javascript:alert(1)", "http:///nohost", "http://u:p@example.com/"} {
		err := c.CheckURL(context.Background(), u)
		require.Error(t, err, u)
		assert.Equal(t, kernel.KindInvalid, kernel.KindOf(err), u)
	}
	assert.NoError(t, NewWebhookClient(true, time.Second).CheckURL(context.Background(), "http://127.0.0.1:9/"))
	assert.NoError(t, c.CheckURL(context.Background(), "https://93.184.216.34/hook"))
}

type manifests []sdk.Manifest

func (m manifests) KnownManifests() []sdk.Manifest { return m }

type appendOnly struct {
	Store
	got []Outgoing
}

func (a *appendOnly) Append(_ context.Context, e Outgoing) error {
	a.got = append(a.got, e)
	return nil
}

// The host's own check of what a plugin emits: its SDK checks too, but a
// plugin is not trusted to use it.
func TestOutboxRefusesUndeclaredTypesAndPayloadsOffSchema(t *testing.T) {
	type payload struct {
		ID string `json:"id"`
		N  int    `json:"n"`
	}
	m, err := sdk.Plugin{Name: "shop", Version: "1", Emits: []sdk.EventType{{Type: "shop.order.placed", Payload: payload{}}}}.Manifest()
	require.NoError(t, err)
	sub := sdk.Manifest{Name: "mail", Subscribes: []string{"shop.order.placed"}}
	other := sdk.Manifest{Name: "other", Subscribes: []string{"shop.order.cancelled"}}
	store := &appendOnly{}
	o := NewOutbox(store, manifests{m, sub, other})
	ctx, _ := kernel.WithUnit(context.Background(), &kernel.Tenant{ID: uuid.New(), Slug: "acme"})

	require.NoError(t, o.Emit(ctx, "shop", "shop.order.placed", []byte(`{"id":"o1","n":2}`)))
	require.Len(t, store.got, 1)
	assert.Equal(t, []string{"mail"}, store.got[0].Subscribers)
	assert.Equal(t, "shop", store.got[0].Source)

	for name, tc := range map[string]struct{ plugin, typ, body string }{
		"undeclared type":      {"shop", "shop.order.cancelled", `{"id":"o1","n":2}`},
		"another's type":       {"mail", "shop.order.placed", `{"id":"o1","n":2}`},
		"unknown plugin":       {"ghost", "ghost.x.happened", `{}`},
		"wrong field type":     {"shop", "shop.order.placed", `{"id":"o1","n":"two"}`},
		"missing field":        {"shop", "shop.order.placed", `{"id":"o1"}`},
		"undeclared field":     {"shop", "shop.order.placed", `{"id":"o1","n":2,"x":1}`},
		"not JSON":             {"shop", "shop.order.placed", `{`},
		"not an object at all": {"shop", "shop.order.placed", `[1]`},
	} {
		err := o.Emit(ctx, tc.plugin, tc.typ, []byte(tc.body))
		assert.Error(t, err, name)
	}
	assert.Len(t, store.got, 1, "nothing refused was queued")
	assert.Error(t, o.Emit(context.Background(), "shop", "shop.order.placed", []byte(`{"id":"o1","n":2}`)), "outside a unit of work")
}

func TestManifestValidatesEvents(t *testing.T) {
	h := func(*sdk.Context, sdk.Event) error { return nil }
	for name, p := range map[string]sdk.Plugin{
		"another plugin's prefix": {Name: "shop", Version: "1", Emits: []sdk.EventType{{Type: "mail.x.sent", Payload: struct{}{}}}},
		"bad shape":               {Name: "shop", Version: "1", Emits: []sdk.EventType{{Type: "shop.placed", Payload: struct{}{}}}},
		"no payload example":      {Name: "shop", Version: "1", Emits: []sdk.EventType{{Type: "shop.order.placed"}}},
		"subscription no handler": {Name: "shop", Version: "1", Subscriptions: []sdk.Subscription{{Type: "mail.x.sent"}}},
		"subscription bad type":   {Name: "shop", Version: "1", Subscriptions: []sdk.Subscription{{Type: "nope", Handler: h}}},
	} {
		_, err := p.Manifest()
		assert.Error(t, err, name)
	}
	_, err := sdk.Plugin{Name: "shop", Version: "1", Subscriptions: []sdk.Subscription{{Type: "mail.x.sent", Handler: h}},
		Emits: []sdk.EventType{{Type: "shop.order.placed", Payload: struct{}{}}}}.Manifest()
	assert.NoError(t, err)
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	d := &Deliverer{o: Options{RetryBase: time.Second, RetryMax: 10 * time.Second}}
	got := []time.Duration{}
	for i := 1; i <= 6; i++ {
		got = append(got, d.backoff(i))
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}, got)
}
