package sdk

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// EventType is an integration event the plugin emits, for other plugins and
// webhooks to react to (docs/events.md).
type EventType struct {
	// Type is "<plugin>.<noun>.<past verb>", say "projects.project.deleted".
	Type        string
	Description string
	// Payload is an example value of the payload (say ProjectDeleted{});
	// its JSON Schema is what the core checks every emitted payload against.
	Payload any
}

// Subscription handles one event type another plugin (or this one) emits.
type Subscription struct {
	Type    string
	Handler EventHandler
}

// EventHandler handles one delivered event. It runs in a unit of work in
// the event's tenant, under the plugin's role, which the handlers of the
// subscriber's next events may share (a batch): its statements commit only
// if every handler of the batch returns nil, together with the records that
// the events were handled, so a redelivered event is not applied twice. An
// error (a panic included) rolls back, and the events are delivered again,
// one at a time.
type EventHandler func(c *Context, e Event) error

// Event is an integration event as a subscriber receives it.
type Event struct {
	ID         string
	Type       string
	Source     string // the plugin that emitted it
	Payload    json.RawMessage
	OccurredAt time.Time
	Attempt    int // 1 on the first delivery
}

// Decode decodes the payload into v.
func (e Event) Decode(v any) error {
	if err := json.Unmarshal(e.Payload, v); err != nil {
		return Internal(err, "decode the payload of event %s", e.Type)
	}
	return nil
}

// EventTypeSpec is an EventType as the host sees it: its payload's schema.
type EventTypeSpec struct {
	Type        string
	Description string
	Schema      json.RawMessage
}

var eventTypePattern = regexp.MustCompile(`^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)

// validateEvents checks the event types the manifest emits and subscribes to.
func (m Manifest) validateEvents(bad func(format string, args ...any)) {
	emits := make(map[string]bool, len(m.Emits))
	for _, e := range m.Emits {
		switch {
		case !eventTypePattern.MatchString(e.Type):
			bad("event %q must look like %s.<noun>.<past verb>", e.Type, m.Name)
		case !hasPrefix(e.Type, m.Name+"."):
			bad("event %q must start with the plugin name %q", e.Type, m.Name+".")
		case emits[e.Type]:
			bad("event %q declared twice", e.Type)
		}
		emits[e.Type] = true
		if len(e.Schema) == 0 || !json.Valid(e.Schema) {
			bad("event %q has no JSON Schema for its payload", e.Type)
		}
	}
	subs := make(map[string]bool, len(m.Subscribes))
	for _, t := range m.Subscribes {
		switch {
		case !eventTypePattern.MatchString(t):
			bad("subscription %q must name an event type, <plugin>.<noun>.<past verb>", t)
		case subs[t]:
			bad("subscription %q declared twice", t)
		}
		subs[t] = true
	}
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

// eventsManifest adds the plugin's events to m.
func (p Plugin) eventsManifest(m *Manifest) error {
	for _, e := range p.Emits {
		schema, err := schemaOf(e.Payload)
		if err != nil {
			return fmt.Errorf("plugin %q: event %s: payload schema: %w", p.Name, e.Type, err)
		}
		if e.Payload == nil {
			return fmt.Errorf("plugin %q: event %s: no example payload", p.Name, e.Type)
		}
		m.Emits = append(m.Emits, EventTypeSpec{Type: e.Type, Description: e.Description, Schema: schema})
	}
	for _, s := range p.Subscriptions {
		if s.Handler == nil {
			return fmt.Errorf("plugin %q: subscription %s has no handler", p.Name, s.Type)
		}
		m.Subscribes = append(m.Subscribes, s.Type)
	}
	return nil
}

// Emit writes an integration event of a type the plugin declares in
// Plugin.Emits to the tenant's outbox, in the request's unit of work: it is
// delivered only if the request commits, and the request commits only with
// it. The payload must match the type's schema; a mistake is an internal
// error, and the request fails.
func (c *Context) Emit(eventType string, payload any) error {
	if !c.srv.emits[eventType] {
		return Internal(nil, "event %q is not among the plugin's declared events", eventType)
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return Internal(err, "encode the payload of event %s", eventType)
	}
	host, err := c.call.client()
	if err != nil {
		return err
	}
	resp, err := host.Emit(c, &wire.EmitRequest{CallId: c.call.id, Type: eventType, Payload: raw})
	return ackError("emit", resp, err)
}

func eventFromWire(w *wire.Event) Event {
	return Event{ID: w.GetId(), Type: w.GetType(), Source: w.GetSource(), Payload: w.GetPayload(),
		OccurredAt: w.GetOccurredAt().AsTime(), Attempt: int(w.GetAttempt())}
}
