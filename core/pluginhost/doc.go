// Package pluginhost runs plugins: out-of-process bounded contexts built
// with sdk/. It keeps the catalog of registered plugins, launches each one
// (refusing a binary whose checksum differs from the catalog), supervises it
// (restart with backoff, a circuit breaker against crash loops, a deadline
// on every call, a kill for a plugin that hangs), routes requests to it, and
// serves it the host services of the request it handles: SQL in the
// request's unit of work, cache, blobs, authorization and audit detail.
//
// It knows no HTTP (core/api mounts plugin routes) and no database driver
// (the SQL service, catalog and cache come from infrastructure).
package pluginhost
