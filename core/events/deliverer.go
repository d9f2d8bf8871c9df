package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// Plugins is the plugin host as the deliverer uses it.
type Plugins interface {
	Manifests
	Deliver(ctx context.Context, plugin string, req *transport.Request, svc transport.Services) error
}

// Tenants lists every tenant's scope.
type Tenants interface {
	Scopes(ctx context.Context) ([]*kernel.Tenant, error)
}

// Options configure a Deliverer.
type Options struct {
	MaxAttempts int           // failed attempts before a delivery is parked
	RetryBase   time.Duration // the first retry's delay, doubled each time
	RetryMax    time.Duration
	Workers     int           // tenants delivered to at once
	Lease       time.Duration // how long a claimed delivery is this replica's
	Poll        time.Duration // how often every tenant is looked at, notifications aside
	Batch       int           // deliveries claimed at once per subscriber
}

func (o *Options) defaults() {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 32
	}
}

// Deliverer delivers committed events to their subscribers. Every replica
// runs one; a delivery is leased by one replica at a time, and a
// subscriber's deliveries are made one after another, in commit order.
// Notifications (Wake) start work at once; a slow poll finds what a lost
// notification or a crashed replica's lease left behind.
type Deliverer struct {
	o        Options
	store    Store
	uow      kernel.Transactor
	plugins  Plugins
	services pluginhost.Services
	tenants  Tenants
	webhooks *WebhookClient
	metrics  *Metrics
	log      *slog.Logger

	mu      sync.Mutex
	known   map[uuid.UUID]*kernel.Tenant
	queued  map[uuid.UUID]bool
	running map[uuid.UUID]bool
	again   map[uuid.UUID]bool
	timers  map[uuid.UUID]*time.Timer
	work    chan uuid.UUID
	refresh chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewDeliverer returns a deliverer; Start runs it.
func NewDeliverer(o Options, store Store, uow kernel.Transactor, plugins Plugins, services pluginhost.Services,
	tenants Tenants, webhooks *WebhookClient, metrics *Metrics, log *slog.Logger) *Deliverer {
	o.defaults()
	return &Deliverer{o: o, store: store, uow: uow, plugins: plugins, services: services, tenants: tenants,
		webhooks: webhooks, metrics: metrics, log: log,
		known: map[uuid.UUID]*kernel.Tenant{}, queued: map[uuid.UUID]bool{}, running: map[uuid.UUID]bool{},
		again: map[uuid.UUID]bool{}, timers: map[uuid.UUID]*time.Timer{},
		work: make(chan uuid.UUID, 4096), refresh: make(chan struct{}, 1)}
}

// Start runs the workers and the poll.
func (d *Deliverer) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for range d.o.Workers {
		d.wg.Go(func() { d.worker(ctx) })
	}
	d.wg.Go(func() { d.poll(ctx) })
	return nil
}

// Stop ends the deliveries in progress (their leases lapse, and they are
// made again) and waits for the workers.
func (d *Deliverer) Stop(context.Context) error {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	d.mu.Lock()
	for _, t := range d.timers {
		t.Stop()
	}
	d.mu.Unlock()
	return nil
}

// Wake is the events channel's notification handler: payload is the ID of
// a tenant with new events, or "*" when notifications may have been lost.
func (d *Deliverer) Wake(payload string) {
	id, err := uuid.Parse(payload)
	if err != nil {
		select {
		case d.refresh <- struct{}{}:
		default:
		}
		return
	}
	d.mu.Lock()
	_, ok := d.known[id]
	d.mu.Unlock()
	if !ok { // a tenant created since the last poll
		select {
		case d.refresh <- struct{}{}:
		default:
		}
		return
	}
	d.enqueue(id)
}

// Refresh is the tenancy channel's handler: a tenant was created, changed
// (its plugins) or deleted, so the list of tenants is read again.
func (d *Deliverer) Refresh(string) {
	select {
	case d.refresh <- struct{}{}:
	default:
	}
}

func (d *Deliverer) enqueue(id uuid.UUID) {
	d.mu.Lock()
	if d.running[id] {
		d.again[id] = true
		d.mu.Unlock()
		return
	}
	if d.queued[id] {
		d.mu.Unlock()
		return
	}
	d.queued[id] = true
	d.mu.Unlock()
	select {
	case d.work <- id:
	default: // full: the next poll brings it back
		d.mu.Lock()
		delete(d.queued, id)
		d.mu.Unlock()
	}
}

func (d *Deliverer) poll(ctx context.Context) {
	tick := time.NewTicker(d.o.Poll)
	defer tick.Stop()
	for {
		ts, err := d.tenants.Scopes(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("events: list tenants", "error", err)
		}
		if err == nil {
			d.mu.Lock()
			d.known = make(map[uuid.UUID]*kernel.Tenant, len(ts))
			for _, t := range ts {
				d.known[t.ID] = t
			}
			d.mu.Unlock()
			for _, t := range ts {
				d.enqueue(t.ID)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.refresh:
		}
	}
}

func (d *Deliverer) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-d.work:
			d.mu.Lock()
			delete(d.queued, id)
			d.running[id] = true
			t := d.known[id]
			d.mu.Unlock()
			if t != nil {
				d.tenant(ctx, t)
			}
			d.mu.Lock()
			delete(d.running, id)
			again := d.again[id]
			delete(d.again, id)
			d.mu.Unlock()
			if again {
				d.enqueue(id)
			}
		}
	}
}

// tenant delivers what is due in t until nothing is, then sets a timer for
// what falls due later.
func (d *Deliverer) tenant(ctx context.Context, t *kernel.Tenant) {
	for ctx.Err() == nil {
		subs, next, err := d.store.Ready(ctx, t)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Warn("events: find due deliveries", "tenant", t.Slug, "error", err)
			}
			return
		}
		progress := false
		for _, sub := range subs {
			if !d.accepts(t, sub) {
				continue
			}
			ds, err := d.store.Claim(ctx, t, sub, d.o.Batch, d.o.Lease)
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn("events: claim deliveries", "tenant", t.Slug, "subscriber", sub, "error", err)
				}
				continue
			}
			if len(ds) > 0 && d.batch(ctx, t, ds) {
				progress = true
				continue
			}
			for i, dl := range ds {
				if !d.deliver(ctx, t, dl) {
					d.release(t, ds[i+1:])
					break
				}
				progress = true
			}
		}
		if !progress {
			d.gauge(ctx, t)
			d.schedule(t.ID, next)
			return
		}
	}
}

// accepts tells whether sub may get deliveries in t now: a plugin the
// tenant has disabled waits (its deliveries stay pending), without holding
// up the others.
func (d *Deliverer) accepts(t *kernel.Tenant, sub string) bool {
	name, ok := strings.CutPrefix(sub, pluginPrefix)
	return !ok || slices.Contains(t.Plugins, name)
}

func (d *Deliverer) release(t *kernel.Tenant, ds []Delivery) {
	if len(ds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.store.Release(ctx, t, ds); err != nil {
		d.log.Warn("events: release leases", "tenant", t.Slug, "error", err)
	}
}

func (d *Deliverer) schedule(id uuid.UUID, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.timers[id]; old != nil {
		old.Stop()
		delete(d.timers, id)
	}
	if at.IsZero() {
		return
	}
	d.timers[id] = time.AfterFunc(max(time.Until(at), 0)+10*time.Millisecond, func() { d.enqueue(id) })
}

func (d *Deliverer) gauge(ctx context.Context, t *kernel.Tenant) {
	n, oldest, err := d.store.Depth(ctx, t)
	if err == nil {
		d.metrics.depth(t.Slug, n, oldest)
	}
}

// deliver makes one attempt at dl and records its outcome; it reports
// whether the subscriber's next delivery may follow (dl is done with).
func (d *Deliverer) deliver(ctx context.Context, t *kernel.Tenant, dl Delivery) bool {
	kind := "plugin"
	var err error
	if name, ok := strings.CutPrefix(dl.Subscriber, pluginPrefix); ok {
		var dup bool
		dup, err = d.toPlugin(ctx, t, name, dl)
		if err == nil {
			outcome := "delivered"
			if dup {
				outcome = "duplicate"
			} else {
				d.metrics.latency.WithLabelValues(kind).Observe(time.Since(dl.OccurredAt).Seconds())
			}
			d.metrics.deliveries.WithLabelValues(kind, outcome).Inc()
			return true
		}
	} else {
		kind = "webhook"
		if err = d.toWebhook(ctx, t, dl); err == nil {
			d.metrics.latency.WithLabelValues(kind).Observe(time.Since(dl.OccurredAt).Seconds())
			d.metrics.deliveries.WithLabelValues(kind, "delivered").Inc()
			return true
		}
	}
	if ctx.Err() != nil {
		return false // stopping: the lease lapses and another attempt is made
	}
	// A plugin that is not running is no fault of the event's: it waits
	// without using up its attempts. (One that crashed on it did fail.)
	counted := !notRunning(err)
	attempts := dl.Attempts
	if counted {
		attempts++
	}
	park := counted && attempts >= d.o.MaxAttempts
	next := time.Now().Add(d.backoff(max(attempts, 1)))
	msg := err.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if ferr := d.store.Failed(fctx, t, dl, counted, next, park, msg); ferr != nil {
		d.log.Warn("events: record a failed delivery", "tenant", t.Slug, "error", ferr)
	}
	outcome := "retry"
	if park {
		outcome = "parked"
		d.metrics.deadLetters.WithLabelValues(kind).Inc()
		d.log.Warn("events: delivery parked", "tenant", t.Slug, "subscriber", dl.Subscriber, "event", dl.EventID,
			"type", dl.Type, "attempts", attempts, "error", msg)
	}
	d.metrics.deliveries.WithLabelValues(kind, outcome).Inc()
	return false
}

// notRunning tells whether err says the plugin was not running, so the
// event was never handed over.
func notRunning(err error) bool {
	var ke *kernel.Error
	return errors.As(err, &ke) && ke.Code == pluginhost.ErrUnavailable.Code && ke.Err == nil
}

func (d *Deliverer) backoff(attempts int) time.Duration {
	b := d.o.RetryBase
	for i := 1; i < attempts && b < d.o.RetryMax; i++ {
		b *= 2
	}
	return min(b, d.o.RetryMax)
}

// toPlugin runs the plugin's subscription in a unit of work of its own in
// t, under the plugin's role and permissions, committed with the inbox's
// record of the event. An event the inbox holds already is not handed over
// again (dup).
func (d *Deliverer) toPlugin(ctx context.Context, t *kernel.Tenant, plugin string, dl Delivery) (dup bool, err error) {
	if done, err := d.store.InInbox(ctx, t, dl); err != nil {
		return false, err
	} else if done {
		return true, d.store.Delivered(ctx, t, dl)
	}
	err = d.handOver(ctx, t, plugin, []Delivery{dl})
	if err != nil {
		// Another replica's attempt may have committed meanwhile (a lease
		// that lapsed): its inbox record made this one roll back.
		if done, ierr := d.store.InInbox(context.WithoutCancel(ctx), t, dl); ierr == nil && done {
			return true, d.store.Delivered(context.WithoutCancel(ctx), t, dl)
		}
		return false, err
	}
	return false, nil
}

// handOver calls the plugin's subscriptions with ds, in order, in one unit
// of work in t that commits with the inbox's records of them all.
func (d *Deliverer) handOver(ctx context.Context, t *kernel.Tenant, plugin string, ds []Delivery) error {
	perms := d.permissions(plugin)
	req := &transport.Request{
		Method: "EVENT", Path: ds[0].Type, RequestID: "event-" + ds[0].EventID.String(),
		Tenant:    sdk.Tenant{ID: t.ID.String(), Slug: t.Slug, Settings: t.Settings},
		Principal: sdk.Principal{ID: PluginSubscriber(plugin), Type: "plugin", Permissions: perms},
	}
	for _, dl := range ds {
		req.Events = append(req.Events, sdk.Event{ID: dl.EventID.String(), Type: dl.Type, Source: dl.Source,
			Payload: dl.Payload, OccurredAt: dl.OccurredAt, Attempt: dl.Attempts + 1})
	}
	ctx = kernel.WithRequestID(ctx, req.RequestID)
	return d.uow.InTenant(ctx, t, func(ctx context.Context) error {
		// The handler acts as the plugin: it may do what the plugin's
		// own permissions name, nothing else.
		svc := d.services.For(plugin, t, func(_ context.Context, action string, _ sdk.Resource) (bool, error) {
			return slices.Contains(perms, action), nil
		}, nil) // no caller whose policy would filter lists: a policy-filtered list fails
		if err := d.plugins.Deliver(ctx, plugin, req, svc); err != nil {
			return err
		}
		for _, dl := range ds {
			if err := d.store.Handled(ctx, dl); err != nil {
				return err
			}
		}
		return nil
	})
}

// batch hands a subscriber's due deliveries to its plugin in one call and
// unit of work, which costs one plugin call and one commit for them all;
// it reports whether that worked. When it does not (one event fails, or
// one was handled already), nothing of it committed, and the deliveries are
// made one by one, which tells which one failed.
func (d *Deliverer) batch(ctx context.Context, t *kernel.Tenant, ds []Delivery) bool {
	plugin, ok := strings.CutPrefix(ds[0].Subscriber, pluginPrefix)
	if !ok || len(ds) < 2 {
		return false
	}
	for _, dl := range ds {
		if dl.Attempts > 0 { // retried: one at a time
			return false
		}
	}
	if err := d.handOver(ctx, t, plugin, ds); err != nil {
		return false
	}
	for _, dl := range ds {
		d.metrics.latency.WithLabelValues("plugin").Observe(time.Since(dl.OccurredAt).Seconds())
	}
	d.metrics.deliveries.WithLabelValues("plugin", "delivered").Add(float64(len(ds)))
	return true
}

func (d *Deliverer) permissions(plugin string) []string {
	for _, m := range d.plugins.KnownManifests() {
		if m.Name == plugin {
			out := make([]string, len(m.Permissions))
			for i, p := range m.Permissions {
				out[i] = p.Name
			}
			return out
		}
	}
	return nil
}

func (d *Deliverer) toWebhook(ctx context.Context, t *kernel.Tenant, dl Delivery) error {
	id, err := uuid.Parse(strings.TrimPrefix(dl.Subscriber, webhookPrefix))
	if err != nil {
		return fmt.Errorf("subscriber %q names no webhook", dl.Subscriber)
	}
	w, err := d.store.Webhook(ctx, t, id)
	if err != nil {
		return err
	}
	a := d.webhooks.Send(ctx, w, t, dl)
	if err := d.store.LogAttempt(context.WithoutCancel(ctx), t, a); err != nil {
		d.log.Warn("events: log a webhook attempt", "tenant", t.Slug, "error", err)
	}
	if a.Error != "" {
		return errors.New(a.Error)
	}
	return d.store.Delivered(ctx, t, dl)
}
