package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// migratePlugin applies a plugin's pending migrations to one tenant: as the
// plugin's owner role, logged in on a connection of its own, so that a
// migration can reach nothing its role may not (the checks of
// pluginhost.CheckMigration come before, as a second line). Before it
// commits, checkPluginObjects reads from the catalog what the migration
// really left, and refuses what a plugin may not own.
func (r *Rollout) migratePlugin(ctx context.Context, w tenantWork, set *MigrationSet) (RolloutOutcome, error) {
	start := time.Now()
	roles, err := r.ensurePluginRoles(ctx, w, set.Component, set.legacy)
	if err != nil {
		return RolloutFailed, err
	}
	conn, scope, err := r.connectAs(ctx, roles.owner, w.schema, "atriumd migrate "+set.Component, r.pluginLimit)
	if err != nil {
		return RolloutFailed, err
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return RolloutFailed, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	if scope != "" {
		if _, err := tx.Exec(ctx, scope); err != nil {
			return RolloutFailed, err
		}
	}

	var locked bool
	key := lockKey("tenant-migrations:" + w.id.String() + ":" + set.Component)
	if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", key).Scan(&locked); err != nil {
		return RolloutFailed, fmt.Errorf("take tenant migration lock: %w", err)
	}
	if !locked {
		return RolloutSkipped, nil
	}
	s := pgx.Identifier{w.schema}.Sanitize()
	var from uint
	if err := tx.QueryRow(ctx, "SELECT "+s+".atrium_plugin_version($1)", set.Component).Scan(&from); err != nil {
		return RolloutFailed, fmt.Errorf("read tenant migration version: %w", err)
	}
	if from >= set.Latest() {
		return RolloutUpToDate, nil
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", r.lockTimeout.Milliseconds())); err != nil {
		return RolloutFailed, err
	}
	to, err := set.applyAfter(ctx, tx, from)
	if err != nil {
		return RolloutFailed, err
	}
	if err := checkPluginObjects(ctx, tx, w.schema, set.Component, roles.runtime); err != nil {
		return RolloutFailed, fmt.Errorf("%s migration %d: %w", set.Component, to, err)
	}
	_, err = tx.Exec(ctx, "SELECT "+s+".atrium_plugin_migrated($1, $2, $3, $4)",
		set.Component, int64(from), int64(to), time.Since(start).Milliseconds()) //nolint:gosec // versions are small
	if err != nil {
		return RolloutFailed, fmt.Errorf("record tenant migration: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return RolloutFailed, err
	}
	return RolloutMigrated, nil
}

// connectAs opens a connection to the core's database as one of a plugin's
// roles, with the tenant's schema as its search path and timeout as its
// statement and idle-in-transaction timeouts. Behind a transaction pooler
// those are set for each transaction instead, by the statement returned.
func (r *Rollout) connectAs(ctx context.Context, role, schema, application string, timeout time.Duration) (*pgx.Conn, string, error) {
	cfg, err := pluginConnConfig(ctx, r.pool.Config().ConnConfig, r.keys, role, schema, application)
	if err != nil {
		return nil, "", err
	}
	ms := fmt.Sprint(timeout.Milliseconds())
	cfg.RuntimeParams["statement_timeout"] = ms
	cfg.RuntimeParams["idle_in_transaction_session_timeout"] = ms
	scope := localSettings(cfg)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, "", unavailable(fmt.Errorf("log in as %s: %w", role, err))
	}
	return conn, scope, nil
}

// pluginConnConfig is base (the core's connection settings) for one of a
// plugin's roles: its own user and password, the tenant's schema.
func pluginConnConfig(ctx context.Context, base *pgx.ConnConfig, keys *Keys, role, schema, application string) (*pgx.ConnConfig, error) {
	password, err := keys.RolePassword(ctx, nil, role)
	if err != nil {
		return nil, err
	}
	cfg := base.Copy()
	cfg.User, cfg.Password = role, password
	cfg.RuntimeParams = map[string]string{
		"search_path":      pgx.Identifier{schema}.Sanitize(),
		"application_name": application,
		"timezone":         "UTC",
	}
	return cfg, nil
}

// checkPluginObjects reads from the catalog, as a plugin's owner role in
// the transaction of its migrations, everything the role owns, and refuses
// what a plugin may not have: an object outside the tenant's schema or not
// named after the plugin, a kind of object other than tables, views,
// indexes, sequences, enum and composite types and domains (functions,
// operators, casts, triggers, rules, policies, collations, text search
// objects, statistics, large objects), a privilege given to anyone but its
// runtime role, settings of its own role, or a dependency on another's
// relation, type or function (a view over a core table, a foreign key to
// one, a default that draws on its sequence). PostgreSQL's privileges
// already keep the role off what is not its own; this keeps what it builds
// from reaching out, whatever a migration's text managed to say.
//
// The migration ran in this session and could have changed its search
// path: the check first sets it to pg_catalog alone and names every
// catalog with its schema, so no object of the plugin's can stand in for
// one.
func checkPluginObjects(ctx context.Context, tx pgx.Tx, schema, plugin, runtime string) error {
	if _, err := tx.Exec(ctx, "SET LOCAL search_path = pg_catalog, pg_temp"); err != nil {
		return fmt.Errorf("check the plugin's objects: %w", err)
	}
	rows, err := tx.Query(ctx, pluginObjectsSQL, plugin, runtime, schema)
	if err != nil {
		return fmt.Errorf("check the plugin's objects: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("check the plugin's objects: %w", err)
	}
	if len(found) > 0 {
		return errors.New("a plugin may not have " + strings.Join(found, "; "))
	}
	return nil
}

// pluginObjectsSQL lists what the current role (a plugin's owner) owns and
// may not; $1 is the plugin's name, $2 its runtime role, $3 the tenant's
// schema. Every catalog is named with pg_catalog.
const pluginObjectsSQL = `
WITH me AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user),
     rt AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $2),
     s  AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $3)
SELECT what FROM (
	SELECT pg_catalog.format('%s %s (not named after the plugin, outside its schema, or not a kind it may have)',
		CASE c.relkind WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' ELSE 'relation' END, c.relname) AS what
	FROM pg_catalog.pg_class c
	WHERE c.relowner = (SELECT oid FROM me) AND (c.relnamespace <> (SELECT oid FROM s)
		OR c.relkind NOT IN ('r', 'p', 'i', 'I', 'S', 'v', 'c') OR NOT (c.relname = $1 OR pg_catalog.starts_with(c.relname, $1 || '_')))
		AND c.relnamespace <> 'pg_toast'::pg_catalog.regnamespace -- a table's TOAST storage is the table's
	UNION ALL
	SELECT pg_catalog.format('type %s', t.typname) FROM pg_catalog.pg_type t
	WHERE t.typowner = (SELECT oid FROM me) AND t.typrelid = 0 AND t.typcategory <> 'A'
		AND (t.typnamespace <> (SELECT oid FROM s) OR t.typtype NOT IN ('e', 'd')
			OR NOT (t.typname = $1 OR pg_catalog.starts_with(t.typname, $1 || '_')))
	UNION ALL
	SELECT pg_catalog.format('function %s', p.oid::pg_catalog.regprocedure) FROM pg_catalog.pg_proc p WHERE p.proowner = (SELECT oid FROM me)
	UNION ALL
	SELECT pg_catalog.format('operator %s', o.oid::pg_catalog.regoperator) FROM pg_catalog.pg_operator o WHERE o.oprowner = (SELECT oid FROM me)
	UNION ALL
	SELECT pg_catalog.format('a cast from %s to %s', k.castsource::pg_catalog.regtype, k.casttarget::pg_catalog.regtype)
	FROM pg_catalog.pg_cast k
	WHERE k.castsource IN (SELECT oid FROM pg_catalog.pg_type WHERE typowner = (SELECT oid FROM me))
		OR k.casttarget IN (SELECT oid FROM pg_catalog.pg_type WHERE typowner = (SELECT oid FROM me))
	UNION ALL
	SELECT pg_catalog.format('rule %s on %s', r.rulename, c.relname) FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
	WHERE c.relowner = (SELECT oid FROM me) AND r.rulename <> '_RETURN'
	UNION ALL
	SELECT pg_catalog.format('trigger %s on %s', g.tgname, c.relname) FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
	WHERE c.relowner = (SELECT oid FROM me) AND NOT g.tgisinternal
	UNION ALL
	SELECT pg_catalog.format('policy %s on %s', p.polname, c.relname) FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
	WHERE c.relowner = (SELECT oid FROM me)
	UNION ALL
	SELECT pg_catalog.format('collation %s', collname) FROM pg_catalog.pg_collation WHERE collowner = (SELECT oid FROM me)
	UNION ALL
	SELECT pg_catalog.format('text search configuration %s', cfgname) FROM pg_catalog.pg_ts_config WHERE cfgowner = (SELECT oid FROM me)
	UNION ALL
	SELECT pg_catalog.format('text search dictionary %s', dictname) FROM pg_catalog.pg_ts_dict WHERE dictowner = (SELECT oid FROM me)
	UNION ALL
	SELECT pg_catalog.format('conversion %s', conname) FROM pg_catalog.pg_conversion WHERE conowner = (SELECT oid FROM me)
	UNION ALL
	SELECT pg_catalog.format('statistics object %s', stxname) FROM pg_catalog.pg_statistic_ext WHERE stxowner = (SELECT oid FROM me)
	UNION ALL
	SELECT pg_catalog.format('large object %s', oid) FROM pg_catalog.pg_largeobject_metadata WHERE lomowner = (SELECT oid FROM me)
	UNION ALL
	SELECT 'settings of its own role' FROM pg_catalog.pg_db_role_setting WHERE setrole = (SELECT oid FROM me)
	UNION ALL
	SELECT pg_catalog.format('a privilege on %s for %s', c.relname, CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee) END)
	FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
	WHERE c.relowner = (SELECT oid FROM me) AND a.grantee NOT IN ((SELECT oid FROM me), (SELECT oid FROM rt))
	UNION ALL
	SELECT pg_catalog.format('a privilege on column %s of %s for %s', t.attname, c.relname,
		CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee) END)
	FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute t ON t.attrelid = c.oid, pg_catalog.aclexplode(t.attacl) a
	WHERE c.relowner = (SELECT oid FROM me) AND a.grantee NOT IN ((SELECT oid FROM me), (SELECT oid FROM rt))
	UNION ALL
	SELECT pg_catalog.format('a default privilege for %s', CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee) END)
	FROM pg_catalog.pg_default_acl d, pg_catalog.aclexplode(d.defaclacl) a
	WHERE d.defaclrole = (SELECT oid FROM me) AND a.grantee NOT IN ((SELECT oid FROM me), (SELECT oid FROM rt))
	UNION ALL
	SELECT pg_catalog.format('a dependency on %s', pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid))
	FROM pg_catalog.pg_depend d
	WHERE d.deptype IN ('n', 'a') AND (
		(d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid IN (SELECT oid FROM pg_catalog.pg_class WHERE relowner = (SELECT oid FROM me)))
		OR (d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.objid IN (SELECT oid FROM pg_catalog.pg_type WHERE typowner = (SELECT oid FROM me)))
		OR (d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid IN (SELECT r.oid FROM pg_catalog.pg_rewrite r
			JOIN pg_catalog.pg_class c ON c.oid = r.ev_class WHERE c.relowner = (SELECT oid FROM me)))
		OR (d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objid IN (SELECT k.oid FROM pg_catalog.pg_constraint k
			LEFT JOIN pg_catalog.pg_class c ON c.oid = k.conrelid LEFT JOIN pg_catalog.pg_type t ON t.oid = k.contypid
			WHERE c.relowner = (SELECT oid FROM me) OR t.typowner = (SELECT oid FROM me)))
		OR (d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND d.objid IN (SELECT a.oid FROM pg_catalog.pg_attrdef a
			JOIN pg_catalog.pg_class c ON c.oid = a.adrelid WHERE c.relowner = (SELECT oid FROM me)))
	) AND (
		(d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid NOT IN (SELECT oid FROM pg_catalog.pg_class
			WHERE relowner = (SELECT oid FROM me)))
		OR (d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.refobjid IN (SELECT oid FROM pg_catalog.pg_type
			WHERE typnamespace <> 'pg_catalog'::pg_catalog.regnamespace AND typowner <> (SELECT oid FROM me)))
		OR (d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.refobjid IN (SELECT oid FROM pg_catalog.pg_proc
			WHERE pronamespace <> 'pg_catalog'::pg_catalog.regnamespace))
	)
) v
ORDER BY what`
