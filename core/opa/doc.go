// Package opa is the policy engine: OPA embedded in the process, deciding
// access from the base policy (policies/base) and each tenant's modules.
//
// The base is compiled and its query prepared once, when the engine is
// built; when it reads only input.action and input.subject.permissions (as
// checked then), its results are memoised by those two. Each tenant's modules are compiled in a compiler of their own,
// lazily on the tenant's first decision, and kept in an LRU cache by tenant
// and policy revision; Invalidate drops a tenant's entry when its policy
// changes. Base and tenant are evaluated apart and combined in Go (see
// combine), so tenant Rego can add deny and allow reasons but can neither
// read nor alter the base's rules.
//
// Tenant Rego is untrusted: its compiler lacks every built-in that reaches
// the network, the runtime, the clock or randomness; its packages must be
// under `tenant`; it may reference data only under data.tenant; modules,
// rules and sizes are limited; and every decision runs under a deadline,
// failing closed. The engine implements policy.Compiler, and through
// Decider, access.Decider.
package opa
