// Package kernel is Atrium's shared kernel: the small set of types every
// bounded context speaks in. It holds the typed error kinds (mapped to HTTP in
// core/api and nowhere else), identifiers, the clock, and the principal and
// tenant that a request carries in its context.
//
// It imports no infrastructure and no other Atrium package.
package kernel
