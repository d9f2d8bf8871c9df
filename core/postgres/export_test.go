package postgres

// TenantPrivileges exposes tenantPrivileges to the package's tests: object
// kind and name, and the privileges granted.
func TenantPrivileges() [][3]string {
	out := make([][3]string, len(tenantPrivileges))
	for i, p := range tenantPrivileges {
		out[i] = [3]string{p.kind, p.name, p.privileges}
	}
	return out
}
