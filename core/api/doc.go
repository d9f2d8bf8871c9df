// Package api is Atrium's HTTP layer: the gin engine, the middleware every
// route relies on, the route registry that also builds the OpenAPI document,
// and the single place where errors become RFC 9457 problem documents.
//
// It is the only package that imports gin. Handlers translate HTTP to calls
// on the bounded contexts' services and back; they hold no business rules.
package api
