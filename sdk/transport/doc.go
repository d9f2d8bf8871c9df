// Package transport is the host side of the plugin protocol: the Atrium core
// uses it to launch plugin processes, read their manifests, forward requests
// to them and serve their calls back into the core. Plugin authors never
// import it; they use package sdk.
//
// A Conn is one running plugin. For each request the core hands Conn.Handle
// the request and the Services of that request (its unit of work, cache,
// blob store, policy and audit record); the plugin's host service calls
// arrive on one connection per plugin, tagged with the request they belong
// to, and are dispatched to those Services.
package transport
