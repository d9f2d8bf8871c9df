package events

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk"
)

// Manifests are the plugins' manifests as the host last saw them, running
// or not: a subscriber that is down still gets its deliveries.
type Manifests interface {
	KnownManifests() []sdk.Manifest
}

// Outbox takes the events plugins emit (pluginhost.Outbox).
type Outbox struct {
	store     Store
	manifests Manifests

	mu      sync.Mutex
	schemas map[schemaKey]*jsonschema.Schema
}

type schemaKey struct{ plugin, version, eventType string }

// NewOutbox returns the outbox.
func NewOutbox(store Store, manifests Manifests) *Outbox {
	return &Outbox{store: store, manifests: manifests, schemas: map[schemaKey]*jsonschema.Schema{}}
}

// Emit checks that plugin declares eventType and that payload matches its
// schema, then queues the event, with the plugins subscribing to it, in
// the unit of work in ctx. A refusal is an internal error (a plugin's bug):
// the request fails and nothing commits.
func (o *Outbox) Emit(ctx context.Context, plugin, eventType string, payload []byte) error {
	u, ok := kernel.UnitFrom(ctx)
	if !ok {
		return kernel.E(kernel.KindInternal, "emit outside a unit of work")
	}
	all := o.manifests.KnownManifests()
	i := slices.IndexFunc(all, func(m sdk.Manifest) bool { return m.Name == plugin })
	if i < 0 {
		return sdk.Internal(nil, "plugin %s is not known", plugin)
	}
	m := all[i]
	j := slices.IndexFunc(m.Emits, func(e sdk.EventTypeSpec) bool { return e.Type == eventType })
	if j < 0 {
		return sdk.Internal(nil, "event %q is not among the events plugin %s declares", eventType, plugin)
	}
	schema, err := o.schema(m, m.Emits[j])
	if err != nil {
		return sdk.Internal(err, "event %s: the declared schema does not compile", eventType)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return sdk.Internal(err, "event %s: the payload is not JSON", eventType)
	}
	if err := schema.Validate(inst); err != nil {
		return sdk.Internal(err, "event %s: the payload does not match its schema: %v", eventType, err)
	}
	var subscribers []string
	for _, s := range all {
		if slices.Contains(s.Subscribes, eventType) {
			subscribers = append(subscribers, s.Name)
		}
	}
	reqID := kernel.RequestIDFrom(ctx)
	return o.store.Append(ctx, Outgoing{ID: uuid.New(), TenantID: u.Tenant.ID, Type: eventType, Source: plugin,
		Payload: payload, RequestID: reqID, Subscribers: subscribers})
}

func (o *Outbox) schema(m sdk.Manifest, e sdk.EventTypeSpec) (*jsonschema.Schema, error) {
	key := schemaKey{m.Name, m.Version, e.Type}
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.schemas[key]; ok {
		return s, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(e.Schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	url := "mem:///" + m.Name + "/" + e.Type + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, err
	}
	o.schemas[key] = s
	return s, nil
}
