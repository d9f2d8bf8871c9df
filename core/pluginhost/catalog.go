package pluginhost

import (
	"context"
	"time"
)

// Entry is a plugin in the catalog.
type Entry struct {
	Name    string
	Version string
	// File is the binary's name in the plugin directory.
	File string
	// SHA256 is the checksum the binary must have to be launched.
	SHA256 []byte
	// Required plugins must be running for the core to report ready.
	Required     bool
	RegisteredAt time.Time
}

// Catalog keeps the registered plugins (the platform schema).
type Catalog interface {
	List(ctx context.Context) ([]Entry, error)
	// Put registers e, replacing an entry of the same name (an upgrade).
	Put(ctx context.Context, e Entry) error
	// Add registers e unless a plugin of that name is registered, and
	// reports whether it did: replicas registering the same plugin at once
	// leave one entry, and never an upgrade.
	Add(ctx context.Context, e Entry) (bool, error)
	// Delete unregisters a plugin; a missing one is kernel.ErrNotFound.
	Delete(ctx context.Context, name string) error
}
