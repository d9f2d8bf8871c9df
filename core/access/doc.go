// Package access decides who may do what: the permission registry, roles,
// the role resolver, and the decision input and output that the policy
// engine (core/policy, evaluated by core/opa) works on.
package access
