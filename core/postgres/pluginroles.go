package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/tenancy"
)

// A plugin has two login roles in each tenant that enables it
// (tenancy.PluginRoles), both with no attribute beyond LOGIN and member of
// no role:
//   - its owner role owns the plugin's objects in the tenant's schema, may
//     create objects there, and is what its migrations run as;
//   - its runtime role may read and write those objects (default privileges
//     of the owner) and call audit_append, events_append and events_handled
//     (signed by the core), and is what its requests' SQL
//     runs as.
//
// atriumd logs in as them: plugin SQL never runs in a session of the core's
// own user, so there is no role to go back up to (RESET ROLE, SET ROLE or
// set_config('role', ...) reach nothing but the session's own role). The
// platform role is a member of both, to manage them, as it is of the tenant
// role.

// pluginRoles are a plugin's roles in one tenant.
type pluginRoles struct{ owner, runtime string }

// ensurePluginRoles creates the plugin's roles in the tenant unless they
// exist, grants them what they need (again, which is harmless), and hands
// over objects that an earlier release let the tenant role own for the
// plugin: those named by legacy, or after the plugin. It commits before it
// returns: the roles log in on connections of their own.
func (r *Rollout) ensurePluginRoles(ctx context.Context, w tenantWork, plugin string, legacy []string) (pluginRoles, error) {
	var roles pluginRoles
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		key := lockKey("plugin-roles:" + w.id.String() + ":" + plugin)
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", key); err != nil {
			return err
		}
		var err error
		if roles, err = r.createPluginRoles(ctx, tx, w, plugin); err != nil {
			return err
		}
		if err := grantPluginRoles(ctx, tx, w.schema, roles); err != nil {
			return err
		}
		return adoptLegacyObjects(ctx, tx, w, plugin, roles, legacy)
	})
	if err != nil {
		return pluginRoles{}, fmt.Errorf("roles of plugin %s: %w", plugin, err)
	}
	return roles, nil
}

func (r *Rollout) createPluginRoles(ctx context.Context, tx pgx.Tx, w tenantWork, plugin string) (pluginRoles, error) {
	var roles pluginRoles
	err := tx.QueryRow(ctx, `SELECT owner_role, runtime_role FROM atrium.tenant_plugin_roles
		WHERE tenant_id = $1 AND plugin = $2`, w.id, plugin).Scan(&roles.owner, &roles.runtime)
	registered := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return roles, err
	}
	if !registered {
		inst, err := r.installation(ctx)
		if err != nil {
			return roles, err
		}
		roles.owner, roles.runtime = tenancy.PluginRoles(inst, w.slug, plugin)
	}
	// Roles are the server's, not the database's: a database restored
	// without them (pg_dump does not dump roles) has the registry's rows
	// but not the roles, which are made again.
	var missing []string
	rows, err := tx.Query(ctx, `SELECT r FROM unnest($1::text[]) r WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)`,
		[]string{roles.owner, roles.runtime})
	if err != nil {
		return roles, err
	}
	if missing, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return roles, err
	}
	for _, role := range missing {
		password, err := r.keys.RolePassword(ctx, tx, role)
		if err != nil {
			return roles, err
		}
		verifier, err := scramVerifier(password)
		if err != nil {
			return roles, err
		}
		id := pgx.Identifier{role}.Sanitize()
		_, err = tx.Exec(ctx, "CREATE ROLE "+id+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION "+
			"NOBYPASSRLS PASSWORD '"+verifier+"'; GRANT "+id+" TO CURRENT_USER")
		if err != nil {
			return roles, fmt.Errorf("create role %s: %w", role, err)
		}
	}
	if registered {
		return roles, nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO atrium.tenant_plugin_roles (tenant_id, plugin, owner_role, runtime_role)
		VALUES ($1, $2, $3, $4)`, w.id, plugin, roles.owner, roles.runtime)
	return roles, err
}

// grantPluginRoles grants the roles their schema rights, the runtime role
// DML on whatever the owner creates, and each the core functions it calls.
func grantPluginRoles(ctx context.Context, tx pgx.Tx, schema string, roles pluginRoles) error {
	s := pgx.Identifier{schema}.Sanitize()
	o, rt := pgx.Identifier{roles.owner}.Sanitize(), pgx.Identifier{roles.runtime}.Sanitize()
	_, err := tx.Exec(ctx, strings.Join([]string{
		"GRANT USAGE, CREATE ON SCHEMA " + s + " TO " + o,
		"GRANT USAGE ON SCHEMA " + s + " TO " + rt,
		"ALTER DEFAULT PRIVILEGES FOR ROLE " + o + " IN SCHEMA " + s + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + rt,
		"ALTER DEFAULT PRIVILEGES FOR ROLE " + o + " IN SCHEMA " + s + " GRANT USAGE, SELECT ON SEQUENCES TO " + rt,
	}, "; "))
	if err != nil {
		return fmt.Errorf("grant plugin roles: %w", err)
	}
	for fn, role := range map[string]string{
		"audit_append(text, bytea)":                             rt,
		"events_append(text, bytea)":                            rt, // a request's events commit with its changes
		"events_handled(text, bytea)":                           rt,
		"atrium_plugin_version(text)":                           o,
		"atrium_plugin_migrated(text, bigint, bigint, integer)": o,
	} {
		// A schema at an old core version lacks them; the core's rollout,
		// which runs first, brings them.
		var present bool
		if err := tx.QueryRow(ctx, "SELECT to_regprocedure($1) IS NOT NULL", s+"."+fn).Scan(&present); err != nil {
			return err
		}
		if !present {
			continue
		}
		if _, err := tx.Exec(ctx, "GRANT EXECUTE ON FUNCTION "+s+"."+fn+" TO "+role); err != nil {
			return fmt.Errorf("grant plugin roles: %w", err)
		}
	}
	return nil
}

// adoptLegacyObjects hands the plugin's objects that the tenant role owns
// (tenants that enabled the plugin before it had roles of its own) to its
// owner role, and grants its runtime role DML on them. An object is the
// plugin's if it is named after the plugin; or if the plugin's migrations
// name it (a table an older version made, which a later one renames into
// the plugin's namespace), the plugin has migrated in this tenant before,
// and the name is no other plugin's: a plugin new to the tenant, or one
// naming another's table, gets nothing that way.
func adoptLegacyObjects(ctx context.Context, tx pgx.Tx, w tenantWork, plugin string, roles pluginRoles, legacy []string) error {
	var migrated bool
	var others []string
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM atrium.tenant_migrations WHERE tenant_id = $1 AND component = $2 AND version > 0),
		ARRAY(SELECT name FROM atrium.plugins WHERE name <> $2 UNION SELECT p FROM atrium.tenants, unnest(plugins) p WHERE id = $1 AND p <> $2)`,
		w.id, plugin).Scan(&migrated, &others)
	if err != nil {
		return err
	}
	ours := func(name string) bool {
		if pluginhost.Owns(plugin, name) {
			return true
		}
		if !migrated || !slices.Contains(legacy, name) {
			return false
		}
		return !slices.ContainsFunc(others, func(o string) bool { return pluginhost.Owns(o, name) })
	}
	// Tables and views first: sequences and types that belong to a table
	// move with it, and are then no longer the tenant role's.
	for _, query := range []string{legacyRelations, legacySequences, legacyTypes} {
		rows, err := tx.Query(ctx, query, pgx.Identifier{w.schema}.Sanitize(), pgx.Identifier{w.role}.Sanitize())
		if err != nil {
			return err
		}
		type object struct{ name, kind string }
		objects, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (object, error) {
			var ob object
			return ob, r.Scan(&ob.name, &ob.kind)
		})
		if err != nil {
			return err
		}
		for _, ob := range objects {
			if !ours(ob.name) {
				continue
			}
			name := pgx.Identifier{w.schema, ob.name}.Sanitize()
			owner := pgx.Identifier{roles.owner}.Sanitize()
			sql := "ALTER TABLE " + name + " OWNER TO " + owner + "; GRANT SELECT, INSERT, UPDATE, DELETE ON " + name + " TO "
			switch ob.kind {
			case "v":
				sql = "ALTER VIEW " + name + " OWNER TO " + owner + "; GRANT SELECT, INSERT, UPDATE, DELETE ON " + name + " TO "
			case "S":
				sql = "ALTER SEQUENCE " + name + " OWNER TO " + owner + "; GRANT USAGE, SELECT ON SEQUENCE " + name + " TO "
			case "T":
				sql = "ALTER TYPE " + name + " OWNER TO " + owner + "; GRANT USAGE ON TYPE " + name + " TO "
			}
			_, err := tx.Exec(ctx, sql+pgx.Identifier{roles.runtime}.Sanitize())
			if err != nil {
				return fmt.Errorf("hand %s over to plugin %s: %w", ob.name, plugin, err)
			}
		}
	}
	return nil
}

// The tenant role's objects in its schema that may be a plugin's, in the
// order they are handed over; $1 is the schema, $2 the tenant role.
const (
	legacyRelations = `SELECT relname, relkind::text FROM pg_class
		WHERE relnamespace = $1::regnamespace AND relowner = $2::regrole AND relkind IN ('r', 'p', 'v')`
	legacySequences = `SELECT relname, 'S' FROM pg_class
		WHERE relnamespace = $1::regnamespace AND relowner = $2::regrole AND relkind = 'S'`
	// Enums, domains and composite types of their own (not a table's row
	// type, nor an array type).
	legacyTypes = `SELECT t.typname, 'T' FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
		WHERE t.typnamespace = $1::regnamespace AND t.typowner = $2::regrole AND t.typcategory <> 'A'
			AND (t.typrelid = 0 OR c.relkind = 'c')`
)

// dropPluginRoles drops every plugin role of a tenant whose schema is gone
// or about to be replaced, with what they still own or were granted.
func dropPluginRoles(ctx context.Context, tx pgx.Tx, tenant uuid.UUID) error {
	rows, err := tx.Query(ctx, "SELECT owner_role, runtime_role FROM atrium.tenant_plugin_roles WHERE tenant_id = $1", tenant)
	if err != nil {
		return err
	}
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pluginRoles, error) {
		var p pluginRoles
		return p, r.Scan(&p.owner, &p.runtime)
	})
	if err != nil {
		return err
	}
	for _, p := range pairs {
		// The runtime role first, in a statement of its own: the owner's
		// default privileges name it, and one DROP OWNED BY of both fails
		// on them ("could not find tuple for default ACL").
		o, rt := pgx.Identifier{p.owner}.Sanitize(), pgx.Identifier{p.runtime}.Sanitize()
		if _, err := tx.Exec(ctx, "DROP OWNED BY "+rt+"; DROP OWNED BY "+o+"; DROP ROLE "+rt+"; DROP ROLE "+o); err != nil {
			return fmt.Errorf("drop plugin roles %s, %s: %w", p.owner, p.runtime, err)
		}
	}
	_, err = tx.Exec(ctx, "DELETE FROM atrium.tenant_plugin_roles WHERE tenant_id = $1", tenant)
	return err
}
