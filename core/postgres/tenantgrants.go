package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// tenantPrivilege is what the tenant role may do with one of the core's
// objects in its schema.
type tenantPrivilege struct {
	kind       string // TABLE, SEQUENCE or FUNCTION
	name       string // as GRANT names it; functions with their arguments
	privileges string // "" for none at all
}

// tenantPrivileges are all the tenant role may do in its schema: what the
// core's own code needs and no more. The platform role owns these objects
// (tenant migration 000006); the tenant role, which requests run as, may not
// alter, drop or re-grant them, never writes the audit log but through
// audit_append, and has no privilege on any plugin's objects. Every core
// object of a tenant schema is listed, none is left to a default
// (TestTenantPrivilegesCoverEveryCoreObject); a migration that adds one
// adds it here.
var tenantPrivileges = []tenantPrivilege{
	{"TABLE", "users", "SELECT, INSERT, UPDATE, DELETE"},
	{"TABLE", "roles", "SELECT, INSERT, UPDATE, DELETE"},
	{"TABLE", "policy_modules", "SELECT, INSERT, UPDATE"}, // versions are kept: never deleted
	{"TABLE", "policy_revision", "SELECT, UPDATE"},
	{"TABLE", "policy_shadow", "SELECT, INSERT, UPDATE, DELETE"},
	{"TABLE", "refresh_families", "SELECT, INSERT, UPDATE, DELETE"},
	{"TABLE", "refresh_tokens", "SELECT, INSERT, UPDATE, DELETE"},
	{"TABLE", "service_accounts", "SELECT, INSERT, UPDATE, DELETE"},
	// Keys are revoked, never deleted but with their account.
	{"TABLE", "service_account_keys", "SELECT, INSERT, UPDATE"},
	// The log is read in the unit of work (lists, verification); records
	// are written by audit_append and sealed by the platform role.
	{"TABLE", "audit_log", "SELECT"},
	{"TABLE", "audit_pending", "SELECT"},
	{"TABLE", "audit_chain", "SELECT"},
	{"TABLE", "audit_head", "SELECT"},
	{"SEQUENCE", "audit_log_id_seq", ""},
	{"TABLE", "audit_key", ""},
	{"FUNCTION", "audit_append(text, bytea)", "EXECUTE"},
	{"FUNCTION", "atrium_plugin_version(text)", ""},
	{"FUNCTION", "atrium_plugin_migrated(text, bigint, bigint, integer)", ""},
}

// grantTenant sets the tenant role's privileges in schema to exactly
// tenantPrivileges (whatever an older release granted is revoked) and writes
// the tenant's audit key. It runs as the platform role, in the transaction
// that migrated the schema; objects its version does not have yet are
// skipped.
func grantTenant(ctx context.Context, tx pgx.Tx, keys *Keys, schema, role string) error {
	s, r := pgx.Identifier{schema}.Sanitize(), pgx.Identifier{role}.Sanitize()
	objects := make([]string, len(tenantPrivileges))
	kinds := make([]string, len(tenantPrivileges))
	for i, p := range tenantPrivileges {
		kinds[i], objects[i] = p.kind, s+"."+p.name
		if p.kind != "FUNCTION" {
			objects[i] = pgx.Identifier{schema, p.name}.Sanitize()
		}
	}
	var present []bool
	err := tx.QueryRow(ctx, `SELECT array_agg(CASE k WHEN 'FUNCTION' THEN to_regprocedure(o) IS NOT NULL
		ELSE to_regclass(o) IS NOT NULL END ORDER BY i) FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x (k, o, i)`,
		kinds, objects).Scan(&present)
	if err != nil {
		return fmt.Errorf("grant the tenant role its privileges: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "REVOKE ALL ON SCHEMA %s FROM %s; GRANT USAGE ON SCHEMA %s TO %s;", s, r, s, r)
	for i, p := range tenantPrivileges {
		if !present[i] {
			continue
		}
		obj := p.kind + " " + objects[i]
		fmt.Fprintf(&b, " REVOKE ALL ON %s FROM %s;", obj, r)
		if p.privileges != "" {
			fmt.Fprintf(&b, " GRANT %s ON %s TO %s;", p.privileges, obj, r)
		}
	}
	if _, err := tx.Exec(ctx, b.String()); err != nil {
		return fmt.Errorf("grant the tenant role its privileges: %w", err)
	}
	if !present[slices.IndexFunc(tenantPrivileges, func(p tenantPrivilege) bool { return p.name == "audit_key" })] {
		return nil
	}
	key, err := keys.AuditKey(ctx, tx, schema)
	if err != nil {
		return err
	}
	ipad, opad := hmacPads(key)
	_, err = tx.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "audit_key"}.Sanitize()+` (ipad, opad) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET ipad = excluded.ipad, opad = excluded.opad`, ipad, opad)
	if err != nil {
		return fmt.Errorf("write the tenant's audit key: %w", err)
	}
	return nil
}
