package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/tenancy"
	"github.com/atriumhq/atrium/migrations"
	"github.com/atriumhq/atrium/sdk"
)

// These follow an attacker's review of the boundary: each was a way
// through before its fix.

// A plugin may call the host from several goroutines: its statements share
// one transaction, one at a time, and no connection is left behind.
func TestConcurrentPluginSQLInOneRequestSharesOneTransaction(t *testing.T) {
	b := newBoundary(t, 4)
	ctx := context.Background()
	for range 10 {
		require.NoError(t, b.uow.InTenant(ctx, b.acme.Scope(), func(ctx context.Context) error {
			var wg sync.WaitGroup
			errs := make(chan error, 3)
			for range 3 {
				wg.Go(func() {
					_, err := b.sql.Exec(ctx, "notes", "INSERT INTO notes (body) SELECT 'parallel ' || pg_backend_pid()", nil)
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					return err
				}
			}
			return nil
		}))
	}
	assert.EqualValues(t, 30, b.one(t, "SELECT count(*) FROM notes WHERE body LIKE 'parallel %'"), "every insert committed")
	assert.EqualValues(t, 1, b.one(t, "SELECT count(DISTINCT body) FROM notes WHERE body LIKE 'parallel %'"), "on one backend")
	assert.EqualValues(t, 0, b.admin(t, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'atriumd plugin notes'
		AND state = 'idle in transaction'`))
}

// Functions that run as the platform role resolve nothing in the tenant's
// schema, where a plugin's owner role may create objects.
func TestDefinerFunctionsIgnoreThePluginsObjects(t *testing.T) {
	b := newBoundary(t, 2)
	ctx := context.Background()
	inst, err := b.store.Installation(ctx)
	require.NoError(t, err)
	owner, _ := tenancy.PluginRoles(inst, "acme", "notes")
	s := pgx.Identifier{b.acme.Schema}.Sanitize()
	// What a migration past both checks could have left.
	_, err = b.pool.Exec(ctx, `CREATE FUNCTION `+s+`.convert_to(text, text) RETURNS bytea LANGUAGE plpgsql AS $f$ BEGIN
		INSERT INTO `+s+`.notes (body) SELECT 'stolen by ' || current_user || ': ' || password_hash FROM `+s+`.users;
		RETURN pg_catalog.convert_to($1, $2::name); END $f$; ALTER FUNCTION `+s+`.convert_to(text, text) OWNER TO `+pgx.Identifier{owner}.Sanitize())
	require.NoError(t, err)
	store := postgres.NewAuditStore(b.pool)
	before := b.admin(t, "SELECT count(*) FROM "+s+".audit_log")
	require.NoError(t, b.uow.InTenant(ctx, b.acme.Scope(), func(ctx context.Context) error {
		return store.Append(ctx, &audit.Record{At: time.Now(), Actor: audit.Actor{Type: "user", ID: "x"}, Action: "users.user.create",
			Outcome: audit.Success}, func(err error) error { return err })
	}))
	assert.Equal(t, before.(int64)+1, b.admin(t, "SELECT count(*) FROM "+s+".audit_log"), "the record went in")
	assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM "+s+".notes WHERE body LIKE 'stolen%'"), "through pg_catalog's convert_to only")
}

// The catalog check cannot be blinded by what the migration did to its
// session: its search path, a view that hides the plugin's role.
func TestTheCatalogCheckSeesPastTheMigrationsSearchPath(t *testing.T) {
	b := newBoundary(t, 2)
	ctx := context.Background()
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	blind := `SELECT set_config('search_path', quote_ident(current_schema()) || ', pg_catalog', true);
		CREATE VIEW pg_roles AS SELECT * FROM pg_catalog.pg_roles WHERE false;
		CREATE VIEW pg_proc AS SELECT * FROM pg_catalog.pg_proc WHERE false;
		CREATE FUNCTION convert_to(text, text) RETURNS bytea LANGUAGE sql AS 'SELECT pg_catalog.convert_to($1, $2::name)'`
	sum, err := postgres.NewRollout(b.pool, []*postgres.MigrationSet{core,
		plugin("notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)", blind),
	}, postgres.RolloutOptions{}).Run(ctx, nil)
	require.NoError(t, err)
	require.Len(t, sum.Failed, 2)
	assert.Contains(t, sum.Failed[0].Err.Error(), "function")
	assert.Contains(t, sum.Failed[0].Err.Error(), "pg_roles")
	assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM pg_proc WHERE proname = 'convert_to' AND pronamespace <> 'pg_catalog'::regnamespace"))
}

// A statement a plugin prepared could stand in for one the core runs on the
// connection by its cached name: the audit record is written regardless,
// and the connection is not used again.
func TestPreparedStatementsOfAPluginCloseTheConnection(t *testing.T) {
	b := newBoundary(t, 1)
	ctx := context.Background()
	pid := b.one(t, "SELECT pg_backend_pid()")
	sum := sha256.Sum256([]byte("SELECT audit_append($1, $2)"))
	name := "stmtcache_" + hex.EncodeToString(sum[:24])
	a := pgx.Identifier{b.acme.Schema, "audit_log"}.Sanitize()
	before := b.admin(t, "SELECT count(*) FROM "+a)
	store := postgres.NewAuditStore(b.pool)
	require.NoError(t, b.uow.InTenant(ctx, b.acme.Scope(), func(ctx context.Context) error {
		if _, err := b.sql.Exec(ctx, "notes", "PREPARE "+name+" (text, bytea) AS SELECT NULL::void", nil); err != nil {
			return err
		}
		if _, err := b.sql.Exec(ctx, "notes", "INSERT INTO notes (body) VALUES ('audited')", nil); err != nil {
			return err
		}
		return store.Append(ctx, &audit.Record{At: time.Now(), Actor: audit.Actor{Type: "user", ID: "x"}, Action: "notes.note.create",
			Outcome: audit.Success}, func(err error) error { return err })
	}))
	assert.Equal(t, before.(int64)+1, b.admin(t, "SELECT count(*) FROM "+a), "the record was written with the change")
	assert.NotEqual(t, pid, b.one(t, "SELECT pg_backend_pid()"), "the connection was closed, not reused")
}

// A plugin role may give itself settings that every later session would
// start with; the core removes them.
func TestSettingsAPluginRoleGivesItselfAreRemoved(t *testing.T) {
	b := newBoundary(t, 1)
	_, err := b.run(t, "ALTER ROLE CURRENT_USER SET work_mem = '64kB'")
	require.NoError(t, err)
	b.conns.Forget(b.acme.ID) // the next session is a new one
	assert.Equal(t, "4MB", b.one(t, "SELECT current_setting('work_mem')"))
	assert.EqualValues(t, 0, b.admin(t, `SELECT count(*) FROM pg_db_role_setting
		WHERE setrole IN (SELECT runtime_role::regrole FROM atrium.tenant_plugin_roles)`))
}

// A table the tenant role owns (left by an older release) goes to a plugin
// only if it is named after it, or if its migrations name it and no other
// plugin's name claims it.
func TestLegacyObjectsGoOnlyToTheirPlugin(t *testing.T) {
	b := newBoundary(t, 2)
	ctx := context.Background()
	s := pgx.Identifier{b.acme.Schema}.Sanitize()
	_, err := b.pool.Exec(ctx, "CREATE TABLE "+s+".projects (secret text); INSERT INTO "+s+".projects VALUES ('projects data'); "+
		"ALTER TABLE "+s+".projects OWNER TO "+pgx.Identifier{b.acme.Role}.Sanitize()+"; "+
		"INSERT INTO atrium.plugins (name, version, file, sha256) VALUES ('projects', '1', 'projects', decode(repeat('00', 32), 'hex'))")
	require.NoError(t, err)
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	sum, err := postgres.NewRollout(b.pool, []*postgres.MigrationSet{core,
		plugin("notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)", "ALTER TABLE IF EXISTS projects RENAME TO notes_loot"),
	}, postgres.RolloutOptions{}).Run(ctx, nil)
	require.NoError(t, err)
	require.Len(t, sum.Failed, 1, "%+v", sum)
	assert.Contains(t, sum.Failed[0].Err.Error(), "must be owner of table projects")
	assert.Equal(t, b.acme.Role, b.admin(t, "SELECT tableowner::text FROM pg_tables WHERE schemaname = 't_acme' AND tablename = 'projects'"))
}

// Types, and roles missing from the server, are put right by the next
// rollout; a partitioned plugin table is backed up.
func TestPluginRolesAndObjectsAreRepaired(t *testing.T) {
	b := newBoundary(t, 2)
	ctx := context.Background()
	inst, err := b.store.Installation(ctx)
	require.NoError(t, err)
	owner, runtime := tenancy.PluginRoles(inst, "acme", "notes")
	// An enum the tenant role owns, as an older release left it.
	for _, tn := range []*tenancy.Tenant{b.acme, b.globex} {
		ts := pgx.Identifier{tn.Schema}.Sanitize()
		_, err = b.pool.Exec(ctx, "CREATE TYPE "+ts+".notes_status AS ENUM ('open'); ALTER TYPE "+ts+".notes_status OWNER TO "+
			pgx.Identifier{tn.Role}.Sanitize())
		require.NoError(t, err)
	}
	// Roles lost (a database restored without the server's roles).
	_, err = b.pool.Exec(ctx, "DROP OWNED BY "+pgx.Identifier{runtime}.Sanitize()+"; DROP OWNED BY "+pgx.Identifier{owner}.Sanitize()+
		"; DROP ROLE "+pgx.Identifier{runtime}.Sanitize()+"; DROP ROLE "+pgx.Identifier{owner}.Sanitize())
	require.NoError(t, err)
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	sum, err := postgres.NewRollout(b.pool, []*postgres.MigrationSet{core,
		plugin("notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)",
			"CREATE TABLE notes_log (at date NOT NULL, status notes_status) PARTITION BY RANGE (at); "+
				"CREATE TABLE notes_log_2026 PARTITION OF notes_log FOR VALUES FROM ('2026-01-01') TO ('2027-01-01'); "+
				"INSERT INTO notes_log VALUES ('2026-12-02', 'open')"),
	}, postgres.RolloutOptions{}).Run(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, sum.Failed)
	assert.Equal(t, owner, b.admin(t, "SELECT typowner::regrole::text FROM pg_type WHERE oid = 't_acme.notes_status'::regtype"))
	assert.EqualValues(t, 2, b.admin(t, "SELECT count(*) FROM pg_roles WHERE rolname IN ($1, $2)", owner, runtime))

	var archive bytes.Buffer
	require.NoError(t, b.svc.Backup(ctx, "acme", &archive), "a partitioned table does not stop a backup")
}

// A plugin's migration that runs on fails in its tenant at the timeout.
func TestPluginMigrationsAreTimeBound(t *testing.T) {
	b := newBoundary(t, 2)
	ctx := context.Background()
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	start := time.Now()
	sum, err := postgres.NewRollout(b.pool, []*postgres.MigrationSet{core,
		plugin("notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)", "SELECT pg_sleep(30)"),
	}, postgres.RolloutOptions{PluginStatementTimeout: 200 * time.Millisecond}).Run(ctx, nil)
	require.NoError(t, err)
	require.Len(t, sum.Failed, 2)
	assert.Contains(t, sum.Failed[0].Err.Error(), "statement timeout")
	assert.Less(t, time.Since(start), 20*time.Second)
}

// The session's end does not list prepared statements: a statement a plugin
// prepares comes only from a PREPARE PostgreSQL reports. Functions that run
// SQL text run it read-only, which refuses PREPARE, SET and every other
// utility statement, so neither a prepared statement nor a setting outlives
// them (checked on the same connection, as the database sees it).
func TestSQLTextFunctionsLeaveNothingInTheSession(t *testing.T) {
	b := newBoundary(t, 1)
	pid := b.one(t, "SELECT pg_backend_pid()")
	for _, sql := range []string{
		"SELECT query_to_xml('PREPARE notes_p AS SELECT 1', true, true, '')",
		"SELECT query_to_xml('prepare \"notes_p\" as select 1', false, false, '')",
		"SELECT query_to_xml_and_xmlschema('PREPARE notes_p AS SELECT 1', true, true, '')",
		"SELECT query_to_xmlschema('PREPARE notes_p AS SELECT 1', true, true, '')",
		"SELECT query_to_xml('SET work_mem = ''64kB''', true, true, '')",
		"SELECT query_to_xml('SET SESSION statement_timeout = 1', true, true, '')",
		"SELECT query_to_xml('DEALLOCATE ALL', true, true, '')",
		"SELECT query_to_xml('RESET ROLE', true, true, '')",
		"SELECT ts_stat('PREPARE notes_p AS SELECT 1')",
	} {
		_, err := b.run(t, sql)
		require.Error(t, err, sql)
		// Refused as a utility statement in a read-only function (0A000) or
		// as no query for a cursor (42P11), not for a missing privilege.
		assert.Contains(t, []string{"0A000", "42P11"}, sqlState(err), "%s: %v", sql, err)
		assert.Equal(t, pid, b.one(t, "SELECT pg_backend_pid()"), "the same connection after %s", sql)
		assert.EqualValues(t, 0, b.one(t, "SELECT count(*) FROM pg_prepared_statements WHERE from_sql"), sql)
		assert.Equal(t, "4MB", b.one(t, "SELECT current_setting('work_mem')"), sql)
		assert.Equal(t, "5s", b.one(t, "SELECT current_setting('statement_timeout')"), sql)
	}
}

// A plugin that frees the names the driver gave COMMIT and the session's
// end, and prepares stand-ins under them, cannot make them run in their
// place: the statements that end its unit of work then name none, and the
// connection is closed.
func TestPreparedStandInsForCommitAndTheSessionEnd(t *testing.T) {
	b := newBoundary(t, 1)
	ctx := context.Background()
	pid := b.one(t, "SELECT pg_backend_pid()") // the driver has prepared COMMIT and the end on it
	cached := func(sql string) string {
		sum := sha256.Sum256([]byte(sql))
		return "stmtcache_" + hex.EncodeToString(sum[:24])
	}
	before := b.admin(t, "SELECT count(*) FROM t_acme.notes")
	require.NoError(t, b.uow.InTenant(ctx, b.acme.Scope(), func(ctx context.Context) error {
		for _, sql := range []string{
			"DEALLOCATE " + cached("COMMIT"),
			"PREPARE " + cached("COMMIT") + " AS SELECT 1",
			"DEALLOCATE " + cached(endSession),
			"PREPARE " + cached(endSession) + " AS SELECT NULL::void",
			"INSERT INTO notes (body) VALUES ('committed')",
			"SELECT set_config('work_mem', '64kB', false)",
		} {
			if _, err := b.sql.Exec(ctx, "notes", sql, nil); err != nil {
				return err
			}
		}
		return nil
	}))
	assert.Equal(t, before.(int64)+1, b.admin(t, "SELECT count(*) FROM t_acme.notes"), "COMMIT ran")
	assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'"))
	assert.NotEqual(t, pid, b.one(t, "SELECT pg_backend_pid()"), "the connection was closed, not reused")
	assert.Equal(t, "4MB", b.one(t, "SELECT current_setting('work_mem')"))
	assert.EqualValues(t, 0, b.one(t, "SELECT count(*) FROM pg_prepared_statements WHERE from_sql"))
}

const endSession = "SELECT atrium_session.end_plugin_session()"

// A COMMIT that PostgreSQL refuses (a deferred constraint) fails the unit
// of work with the plugin's error, and nothing of it stays.
func TestARefusedPluginCommitFailsTheUnitOfWork(t *testing.T) {
	b := newBoundary(t, 1)
	ctx := context.Background()
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	sum, err := postgres.NewRollout(b.pool, []*postgres.MigrationSet{core,
		plugin("notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)",
			"CREATE TABLE notes_tags (note bigint REFERENCES notes (id) DEFERRABLE INITIALLY DEFERRED, tag text)"),
	}, postgres.RolloutOptions{}).Run(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, sum.Failed)
	for _, clean := range []bool{true, false} { // a dirty connection ends its unit of work another way
		err = b.uow.InTenant(ctx, b.acme.Scope(), func(ctx context.Context) error {
			if !clean {
				if _, err := b.sql.Exec(ctx, "notes", "LISTEN notes_channel", nil); err != nil {
					return err
				}
			}
			_, err := b.sql.Exec(ctx, "notes", "INSERT INTO notes_tags VALUES (424242, 'orphan')", nil)
			return err
		})
		require.Error(t, err, "clean %v", clean)
		assert.ErrorIs(t, err, sdk.ErrConflict, "clean %v", clean)
		assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM t_acme.notes_tags"))
		assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'"))
	}
}
