package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/postgres"
)

// Every core object of a tenant schema has an entry in tenantPrivileges,
// and the tenant role holds exactly what its entry grants: nothing is left
// to a default or to an older release's grants.
func TestTenantPrivilegesCoverEveryCoreObject(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	tn := e.create(t, "acme")
	listed := map[string]string{}
	for _, p := range postgres.TenantPrivileges() {
		name, _, _ := strings.Cut(p[1], "(")
		listed[name] = p[2]
	}

	rows, err := e.pool.Query(ctx, `SELECT c.relname::text, c.relkind::text FROM pg_class c
		WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S', 'm', 'f', 'i')
		UNION ALL SELECT p.proname::text, 'function' FROM pg_proc p WHERE p.pronamespace = $1::regnamespace`, tn.Schema)
	require.NoError(t, err)
	type object struct{ name, kind string }
	objects, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (object, error) {
		var o object
		return o, r.Scan(&o.name, &o.kind)
	})
	require.NoError(t, err)
	triggerFunctions := []string{"audit_append_only", "audit_head_forward"} // run as triggers only
	for _, o := range objects {
		// A plugin owns the objects named after it: none may be named
		// like the first word of a core object.
		first, _, _ := strings.Cut(o.name, "_")
		assert.True(t, pluginhost.NameReserved(first), "a plugin named %q would own %s %s", first, o.kind, o.name)
		if o.kind == "i" || o.kind == "function" && slices.Contains(triggerFunctions, o.name) {
			continue
		}
		_, ok := listed[o.name]
		assert.True(t, ok, "%s %s has no entry in tenantPrivileges", o.kind, o.name)
	}

	for _, p := range postgres.TenantPrivileges() {
		obj := pgx.Identifier{tn.Schema, p[1]}.Sanitize()
		var all []string
		switch p[0] {
		case "TABLE":
			all = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}
		case "SEQUENCE":
			all = []string{"USAGE", "SELECT", "UPDATE"}
		case "FUNCTION":
			all, obj = []string{"EXECUTE"}, pgx.Identifier{tn.Schema}.Sanitize()+"."+p[1]
		}
		for _, priv := range all {
			var has bool
			q := "SELECT has_" + strings.ToLower(p[0]) + "_privilege($1, $2, $3)"
			require.NoError(t, e.pool.QueryRow(ctx, q, tn.Role, obj, priv).Scan(&has))
			assert.Equal(t, strings.Contains(p[2], priv), has, "%s on %s", priv, obj)
		}
	}
	var create bool
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT has_schema_privilege($1, $2, 'CREATE')", tn.Role, tn.Schema).Scan(&create))
	assert.False(t, create, "the tenant role creates nothing in its schema")
}
