// Package health holds the readiness check type that infrastructure
// contributes and the HTTP layer reports, so neither imports the other.
package health

import "context"

// Check is one dependency /readyz reports on. Probe returns nil while the
// dependency can serve. An Optional dependency's absence only degrades
// the core (it falls back without it), so it never makes it unready.
type Check struct {
	Name     string
	Probe    func(context.Context) error
	Optional bool
}
