// Package events carries integration events between plugins, and to
// webhooks, through each tenant's transactional outbox (docs/events.md).
//
// A plugin's handler emits an event (sdk.Context.Emit): the Outbox checks it
// against the plugin's declaration and queues it in the request's unit of
// work, so it commits with the request's changes or not at all. The
// Deliverer hands committed events, in commit order, to each subscriber:
// a plugin's subscription, run in a unit of work of its own that commits
// with the inbox's record of the event (so a redelivery is applied once),
// or a webhook. Failed deliveries are retried with backoff, then parked.
package events

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
)

// Outgoing is an event on its way into the outbox.
type Outgoing struct {
	ID        uuid.UUID
	TenantID  uuid.UUID
	Type      string
	Source    string // the emitting plugin
	Payload   json.RawMessage
	RequestID string
	// Subscribers are the plugins subscribing to Type; the store adds the
	// tenant's webhooks that take it.
	Subscribers []string
}

// Delivery is one event on its way to one subscriber.
type Delivery struct {
	OutboxID   int64 // the event's place in the tenant's commit order
	EventID    uuid.UUID
	Type       string
	Source     string
	Payload    json.RawMessage
	OccurredAt time.Time
	Subscriber string // "plugin:<name>" or "webhook:<id>"
	Attempts   int    // failed attempts so far
}

// Subscriber names.
const (
	pluginPrefix  = "plugin:"
	webhookPrefix = "webhook:"
)

// PluginSubscriber is the subscriber name of a plugin.
func PluginSubscriber(plugin string) string { return pluginPrefix + plugin }

// Delivery states.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed" // parked: retried only by an admin
)

// Record is an event with its deliveries, as the API lists it.
type Record struct {
	ID         uuid.UUID        `json:"id"`
	Type       string           `json:"type"`
	Source     string           `json:"source"`
	Payload    json.RawMessage  `json:"payload"`
	OccurredAt time.Time        `json:"occurred_at"`
	Deliveries []DeliveryStatus `json:"deliveries"`
	Seq        int64            `json:"-"` // its place in the outbox, for the cursor
}

// DeliveryStatus is one subscriber's state of an event.
type DeliveryStatus struct {
	Subscriber    string     `json:"subscriber"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"last_error,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
}

// ListQuery filters the event list.
type ListQuery struct {
	Status string // an event with a delivery in this state
	Type   string
	Limit  int
	After  int64 // the outbox id of the previous page's last event (newest first)
}

// Webhook is an address that receives the tenant's events.
type Webhook struct {
	ID        uuid.UUID `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"` // shown once, when created
	CreatedAt time.Time `json:"created_at"`
}

// WebhookAttempt is one attempt to deliver an event to a webhook.
type WebhookAttempt struct {
	WebhookID  uuid.UUID `json:"-"`
	EventID    uuid.UUID `json:"event_id"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	DurationMS int64     `json:"duration_ms"`
	Error      string    `json:"error,omitempty"`
	Attempt    int       `json:"attempt"`
}

// Store keeps the outbox, deliveries, inbox and webhooks in each tenant's
// schema (infrastructure implements it). The methods marked "in the unit
// of work" run in the one in ctx, as the tenant role; the others are the
// deliverer's, on the platform's own connections.
type Store interface {
	// Append queues e to commit with the unit of work in ctx.
	Append(ctx context.Context, e Outgoing) error
	// Handled queues the inbox's record that d was handled, which commits
	// with the unit of work in ctx and marks d delivered; a second record
	// for the same event and subscriber fails that commit.
	Handled(ctx context.Context, d Delivery) error

	// Ready returns the subscribers of t whose oldest pending delivery is
	// due and unleased, and when the earliest other pending one falls due
	// (zero: none).
	Ready(ctx context.Context, t *kernel.Tenant) ([]string, time.Time, error)
	// Claim leases, for lease, up to n of subscriber's pending deliveries
	// in order, starting at its oldest, if that one is due and no replica
	// holds it; none if another replica does.
	Claim(ctx context.Context, t *kernel.Tenant, subscriber string, n int, lease time.Duration) ([]Delivery, error)
	// InInbox tells whether subscriber handled the event already.
	InInbox(ctx context.Context, t *kernel.Tenant, d Delivery) (bool, error)
	// Delivered marks d delivered.
	Delivered(ctx context.Context, t *kernel.Tenant, d Delivery) error
	// Failed records a failed attempt: d is due again at next, or parked.
	Failed(ctx context.Context, t *kernel.Tenant, d Delivery, counted bool, next time.Time, park bool, msg string) error
	// Release gives up the lease of deliveries not attempted.
	Release(ctx context.Context, t *kernel.Tenant, ds []Delivery) error
	// Depth counts t's pending deliveries and gives the oldest one's
	// commit time.
	Depth(ctx context.Context, t *kernel.Tenant) (int, time.Time, error)
	// Webhook returns one of t's webhooks with its secret.
	Webhook(ctx context.Context, t *kernel.Tenant, id uuid.UUID) (*Webhook, error)
	// LogAttempt records one webhook delivery attempt.
	LogAttempt(ctx context.Context, t *kernel.Tenant, a WebhookAttempt) error

	// List lists events newest first (in the unit of work).
	List(ctx context.Context, q ListQuery) ([]Record, error)
	// Retry makes the event's parked deliveries pending again (in the
	// unit of work); a kernel.ErrNotFound error for no such event.
	Retry(ctx context.Context, id uuid.UUID) (*Record, error)

	// Webhooks, in the unit of work.
	CreateWebhook(ctx context.Context, w *Webhook) error
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	GetWebhook(ctx context.Context, id uuid.UUID) (*Webhook, error)
	DeleteWebhook(ctx context.Context, id uuid.UUID) error
	WebhookAttempts(ctx context.Context, id uuid.UUID, limit int) ([]WebhookAttempt, error)
}
