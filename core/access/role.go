package access

import "slices"

// Built-in roles: present in every tenant, never deletable.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleViewer = "viewer"
)

// BuiltinRoles lists the built-in role names.
var BuiltinRoles = []string{RoleAdmin, RoleMember, RoleViewer}

// IsBuiltin reports whether name is a built-in role.
func IsBuiltin(name string) bool { return slices.Contains(BuiltinRoles, name) }

// BuiltinPermissions computes what a built-in role holds from the registry:
// admin holds everything; member every read, create and update permission of
// the plugins plus those the core places in it (users and roles read);
// viewer every read permission of the plugins. A permission's Roles adds
// more built-in roles explicitly.
func BuiltinPermissions(role string, all []Permission) []string {
	var out []string
	for _, p := range all {
		if holds(role, p) {
			out = append(out, p.Name)
		}
	}
	return out
}

func holds(role string, p Permission) bool {
	if role == RoleAdmin || slices.Contains(p.Roles, role) {
		return true
	}
	if p.IsReserved() {
		return false
	}
	switch role {
	case RoleMember:
		return p.Verb() == "read" || p.Verb() == "create" || p.Verb() == "update"
	case RoleViewer:
		return p.Verb() == "read"
	}
	return false
}
