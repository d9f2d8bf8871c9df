# The base policy: what role-based access allows, and which actions tenant
# policies may grant. core/opa evaluates it on its own (allow, grantable and
# deny below) and tenant policies separately, and combines the two in Go:
#
#   allowed = (allow or (a tenant allow fired and grantable))
#             and no deny fired, the base's or the tenant's
#
# so no tenant module can change, mock or shadow these rules.
package atrium.base

# Contexts only the core declares and only admin holds: administration of
# users and roles, policies, the audit log and the platform. Must agree with
# access.Permission.IsReserved (core/opa tests check it does).
reserved_contexts := {"identity", "access", "audit", "tenancy", "platform"}

default allow := false

# Role-based access: one of the subject's roles holds the action.
allow if input.action in input.subject.permissions

default grantable := false

# A tenant allow may grant plugin permissions, never reserved ones.
grantable if {
	context := split(input.action, ".")[0]
	not context in reserved_contexts
}

# Reasons the base refuses whatever the roles and tenant policies say. A
# deny outweighs allow and grantable, so they need not repeat its checks
# (each rule evaluated costs microseconds on every request).
deny contains "the action is not a permission name" if {
	not regex.match(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`, object.get(input, "action", ""))
}
