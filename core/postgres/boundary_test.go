package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/tenancy"
	"github.com/atriumhq/atrium/migrations"
	"github.com/atriumhq/atrium/sdk"
)

// These tests go around the host's SQL check (pluginhost.CheckSQL) on
// purpose: they hand PluginSQL what an attacker would, and assert what
// PostgreSQL itself did. The check is the second line; the roles are the
// first.

// boundary is two tenants, acme with the plugins notes and other, globex
// with notes, and the plugins' SQL service.
type boundary struct {
	*env
	acme, globex *tenancy.Tenant
	conns        *postgres.PluginConns
	sql          postgres.PluginSQL
}

func plugin(name string, up ...string) *postgres.MigrationSet {
	m := sdk.Manifest{Name: name}
	for i, sql := range up {
		m.Migrations = append(m.Migrations, sdk.Migration{Version: uint64(i + 1), Name: "m", Up: sql})
	}
	return postgres.PluginMigrations(m)
}

func newBoundary(t *testing.T, maxConns int) *boundary {
	t.Helper()
	return boundaryOn(t, newEnv(t, 8), maxConns)
}

func boundaryOn(t testing.TB, e *env, maxConns int) *boundary {
	t.Helper()
	ctx := context.Background()
	b := &boundary{env: e, acme: e.create(t, "acme"), globex: e.create(t, "globex")}
	_, err := e.pool.Exec(ctx, `UPDATE atrium.tenants SET plugins = CASE slug WHEN 'acme' THEN '{notes,other}'::text[] ELSE '{notes}' END`)
	require.NoError(t, err)
	b.acme.Plugins, b.globex.Plugins = []string{"notes", "other"}, []string{"notes"}
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	sum, err := postgres.NewRollout(e.pool, []*postgres.MigrationSet{core,
		plugin("notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL); INSERT INTO notes (body) VALUES ('first')"),
		plugin("other", "CREATE TABLE other (secret text); INSERT INTO other VALUES ('other plugin''s')"),
	}, postgres.RolloutOptions{}).Run(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, sum.Failed)
	b.conns = postgres.NewPluginConns(e.pool, postgres.NewKeys(e.pool), e.store.Installation,
		postgres.PluginConnOptions{MaxConns: maxConns, StatementTimeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	t.Cleanup(b.conns.Close)
	b.sql = postgres.PluginSQL{Conns: b.conns}
	return b
}

// run runs sql as plugin notes in acme, in a unit of work of its own that
// commits unless sql fails; it returns the rows as text.
func (b *boundary) run(t *testing.T, sql string, args ...any) ([][]any, error) {
	t.Helper()
	var rows [][]any
	err := b.uow.InTenant(context.Background(), b.acme.Scope(), func(ctx context.Context) error {
		rs, err := b.sql.Query(ctx, "notes", sql, args)
		if err != nil {
			return err
		}
		rows = rs.Rows
		return nil
	})
	return rows, err
}

func (b *boundary) one(t *testing.T, sql string) any {
	t.Helper()
	rows, err := b.run(t, sql)
	require.NoError(t, err, sql)
	require.Len(t, rows, 1, sql)
	return rows[0][0]
}

// admin asks the database as the test's own (admin) user.
func (b *boundary) admin(t *testing.T, sql string, args ...any) any {
	t.Helper()
	var v any
	require.NoError(t, b.pool.QueryRow(context.Background(), sql, args...).Scan(&v), sql)
	return v
}

// sqlState is the SQLSTATE of err: PostgreSQL's own, or the one in the
// text of the plugin error PluginSQL makes of it.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		if m := sqlStateText.FindStringSubmatch(se.Message); m != nil {
			return m[1]
		}
		return se.Message
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

var sqlStateText = regexp.MustCompile(`\(SQLSTATE ([0-9A-Z]{5})\)$`)

func TestPluginSQLRunsAsThePluginsRuntimeRole(t *testing.T) {
	b := newBoundary(t, 4)
	inst, err := b.store.Installation(context.Background())
	require.NoError(t, err)
	_, runtime := tenancy.PluginRoles(inst, "acme", "notes")
	assert.Equal(t, runtime, b.one(t, "SELECT current_user"))
	assert.Equal(t, runtime, b.one(t, "SELECT session_user"), "the session is the plugin's: there is no other role behind it")
	assert.Equal(t, "first", b.one(t, "SELECT body FROM notes"))

	// Every way back up lands on the same role, or is refused.
	for _, sql := range []string{
		"SELECT set_config('role', 'none', true)",
		`SELECT "set_config"('role', 'none', false)`,
		"SELECT pg_catalog.set_config('role', 'none', true)",
	} {
		rows, err := b.run(t, sql+", current_user")
		if err == nil {
			assert.Equal(t, runtime, rows[0][1], sql)
		}
		assert.Equal(t, runtime, b.one(t, "SELECT current_user"), "after "+sql)
	}
	for _, target := range []string{b.acme.Role, b.globex.Role, "postgres", "pg_read_all_data", "pg_write_server_files"} {
		_, err := b.run(t, "SELECT set_config('role', $1, true)", target)
		assert.Equal(t, "42501", sqlState(err), "set_config role %s", target)
		_, err = b.run(t, "SELECT set_config('session_authorization', $1, true)", target)
		assert.Error(t, err, "session_authorization %s", target)
	}
}

func TestPluginRolesReachOnlyTheirOwnTables(t *testing.T) {
	b := newBoundary(t, 4)
	g := pgx.Identifier{b.globex.Schema}.Sanitize()
	for _, sql := range []string{
		"SELECT email, password_hash FROM users",
		"SELECT * FROM refresh_tokens",
		"SELECT * FROM roles",
		"SELECT * FROM policy_modules",
		"SELECT * FROM audit_log",
		"SELECT * FROM audit_key",
		"SELECT * FROM other",
		"SELECT * FROM " + g + ".notes",
		"SELECT * FROM " + g + ".users",
		"SELECT * FROM atrium.signing_keys",
		"SELECT * FROM atrium.installation",
		"SELECT * FROM atrium.operators",
		"INSERT INTO atrium.operators (id, email, password_hash) VALUES (gen_random_uuid(), 'x@y', 'x')",
		"UPDATE users SET password_hash = 'x'",
		"SELECT query_to_xml('SELECT password_hash FROM users', true, false, '')",
		"SELECT table_to_xml('refresh_tokens', true, false, '')",
		"SELECT * FROM ts_stat('SELECT to_tsvector(email) FROM users')",
	} {
		_, err := b.run(t, sql)
		assert.Contains(t, []string{"42501", "3F000"}, sqlState(err), "%s: %v", sql, err)
	}
	// The planner's statistics show a role only what it may read.
	_, err := b.pool.Exec(context.Background(), "ANALYZE "+pgx.Identifier{b.acme.Schema, "users"}.Sanitize())
	require.NoError(t, err)
	assert.EqualValues(t, 0, b.one(t, "SELECT count(*) FROM pg_stats WHERE tablename IN ('users', 'refresh_tokens')"))
	assert.EqualValues(t, 0, b.one(t, "SELECT count(*) FROM pg_stats_ext"))
	// Nothing changed behind the refusals.
	assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM atrium.operators"))
	assert.Equal(t, "$2a$10$not-a-real-hash-for-tests",
		b.admin(t, "SELECT password_hash FROM "+pgx.Identifier{b.acme.Schema, "users"}.Sanitize()))
}

func TestPluginRolesCannotDamageTheSchema(t *testing.T) {
	b := newBoundary(t, 4)
	for _, sql := range []string{
		"DROP TABLE audit_log CASCADE",
		"DROP TABLE users CASCADE",
		"DROP INDEX users_email_key",
		"DROP FUNCTION audit_append_only() CASCADE",
		"ALTER TABLE audit_log DISABLE TRIGGER ALL",
		"TRUNCATE audit_log",
		"CREATE TABLE notes_more (id int)",
		"CREATE FUNCTION lower(text) RETURNS text LANGUAGE sql AS 'SELECT $1'",
		"CREATE TEMP TABLE scratch (id int)",
		"ALTER TABLE notes OWNER TO CURRENT_USER",
		"SELECT lo_from_bytea(0, 'x')",
	} {
		_, err := b.run(t, sql)
		require.Error(t, err, sql)
	}
	// A role that does not own a table grants nothing on it (PostgreSQL
	// only warns).
	_, err := b.run(t, "GRANT SELECT ON notes TO PUBLIC")
	require.NoError(t, err)
	a := pgx.Identifier{b.acme.Schema}.Sanitize()
	assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1::regclass AND a.grantee = 0",
		a+".notes"))
	assert.Equal(t, true, b.admin(t, `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL
		AND to_regclass($3) IS NOT NULL AND to_regclass($4) IS NULL`,
		a+".audit_log", a+".users_email_key", a+".users", a+".notes_more"))
	assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM pg_largeobject_metadata"))
	assert.EqualValues(t, 2, b.admin(t, `SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND tgenabled = 'O'`, a+".audit_log"),
		"the audit log's triggers are there and enabled")
	assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM pg_proc WHERE proname = 'lower' AND pronamespace <> 'pg_catalog'::regnamespace"))
}

func TestPluginsCannotForgeAuditRecords(t *testing.T) {
	b := newBoundary(t, 4)
	a := pgx.Identifier{b.acme.Schema, "audit_log"}.Sanitize()
	before := b.admin(t, "SELECT count(*) FROM "+a)
	record := `{"at":"2026-01-01T00:00:00Z","actor_type":"operator","actor_id":"x","action":"tenancy.tenant.delete","outcome":"success"}`
	for _, sql := range []string{
		"INSERT INTO audit_log (at, actor_type, action, outcome) VALUES (now(), 'operator', 'forged', 'success')",
		"INSERT INTO audit_pending (record_id) VALUES (1)",
		"UPDATE audit_head SET seq = seq + 1",
	} {
		_, err := b.run(t, sql)
		assert.Equal(t, "42501", sqlState(err), sql)
	}
	_, err := b.run(t, "SELECT audit_append($1, $2)", record, make([]byte, 32))
	assert.Equal(t, "42501", sqlState(err), "a record without the core's MAC")
	_, err = b.run(t, "SELECT audit_append($1, sha256(convert_to($1, 'UTF8')))", record)
	assert.Equal(t, "42501", sqlState(err), "a plain hash is no MAC")

	// The tenant role (what the core's requests run as) cannot either.
	err = b.uow.InTenant(context.Background(), b.acme.Scope(), func(ctx context.Context) error {
		tx, err := postgres.TxFrom(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "INSERT INTO audit_log (at, actor_type, action, outcome) VALUES (now(), 'operator', 'forged', 'success')")
		return err
	})
	assert.Equal(t, "42501", sqlState(err))
	assert.Equal(t, before, b.admin(t, "SELECT count(*) FROM "+a), "no record was written")
}

func TestPluginConnectionsAreCleanForTheNextBorrower(t *testing.T) {
	b := newBoundary(t, 1) // one connection: every unit of work below shares it
	var pid any
	// A statement timeout of 1 ms may fail the unit of work that sets it
	// (its own COMMIT runs under it); the next borrower has the default.
	_, _ = b.run(t, "SELECT set_config('statement_timeout', '1', false)")
	assert.Equal(t, "5s", b.one(t, "SELECT current_setting('statement_timeout')"))
	for i, leave := range []string{
		"SELECT set_config('statement_timeout', '999', false)",
		"SELECT set_config('search_path', 'pg_catalog', false)",
		"SELECT set_config('work_mem', '64kB', false)",
		"SELECT pg_advisory_lock(4242)",
		"SELECT pg_advisory_lock_shared(4243)",
	} {
		_, err := b.run(t, leave)
		require.NoError(t, err, leave)
		got := b.one(t, "SELECT pg_backend_pid()")
		if i == 0 {
			pid = got
		}
		require.Equal(t, pid, got, "the same connection")
		assert.Equal(t, "5s", b.one(t, "SELECT current_setting('statement_timeout')"), "after "+leave)
		assert.Equal(t, `"t_acme"`, b.one(t, "SELECT current_setting('search_path')"), "after "+leave)
		assert.Equal(t, "4MB", b.one(t, "SELECT current_setting('work_mem')"), "after "+leave)
		assert.EqualValues(t, 0, b.one(t, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"),
			"after "+leave)
	}
	// What a transaction's end leaves but the reset does not (a cursor held
	// open, a channel listened to) closes the connection: the next borrower
	// has a new one, holding neither.
	for _, leave := range []string{
		"DECLARE notes_held CURSOR WITH HOLD FOR SELECT 1",
		"LISTEN atrium_plugins",
	} {
		_, err := b.run(t, leave)
		require.NoError(t, err, leave)
		assert.NotEqual(t, pid, b.one(t, "SELECT pg_backend_pid()"), "a new connection after "+leave)
		assert.EqualValues(t, 0, b.one(t, "SELECT count(*) FROM pg_cursors WHERE name = 'notes_held'"), "after "+leave)
		assert.EqualValues(t, 0, b.one(t, "SELECT count(*) FROM pg_listening_channels()"), "after "+leave)
		pid = b.one(t, "SELECT pg_backend_pid()")
	}
	// A unit of work that fails leaves nothing either.
	err := b.uow.InTenant(context.Background(), b.acme.Scope(), func(ctx context.Context) error {
		if _, err := b.sql.Query(ctx, "notes", "SELECT pg_advisory_lock(7), set_config('work_mem', '128kB', false)", nil); err != nil {
			return err
		}
		return errors.New("the handler failed")
	})
	require.Error(t, err)
	assert.Equal(t, "4MB", b.one(t, "SELECT current_setting('work_mem')"))
	assert.EqualValues(t, 0, b.one(t, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"))
}

func TestPluginStatementsAreOneAtATime(t *testing.T) {
	b := newBoundary(t, 4)
	for _, sql := range []string{
		"SELECT 1; SELECT set_config('role', 'none', false)",
		"SELECT 1; DROP TABLE notes",
	} {
		_, err := b.run(t, sql)
		assert.ErrorContains(t, err, "cannot insert multiple commands into a prepared statement", sql)
		err = b.uow.InTenant(context.Background(), b.acme.Scope(), func(ctx context.Context) error {
			_, err := b.sql.Exec(ctx, "notes", sql, nil)
			return err
		})
		assert.ErrorContains(t, err, "cannot insert multiple commands into a prepared statement", "Exec: "+sql)
	}
	assert.Equal(t, true, b.admin(t, "SELECT to_regclass($1) IS NOT NULL", b.acme.Schema+".notes"))
}

// A unit of work takes a core connection with its first core statement: a
// plugin route whose handler runs only plugin SQL holds one connection, its
// plugin's, not a second one idle beside it.
func TestPluginWorkTakesNoCoreConnection(t *testing.T) {
	b := newBoundary(t, 4)
	ctx := context.Background()
	held := func() int32 { return b.pool.Stat().AcquiredConns() }
	require.NoError(t, b.uow.InTenant(ctx, b.acme.Scope(), func(ctx context.Context) error {
		_, err := b.sql.Exec(ctx, "notes", "INSERT INTO notes (body) VALUES ('plugin only')", nil)
		require.NoError(t, err)
		assert.Zero(t, held(), "core connections held during plugin-only work")
		return nil
	}))
	assert.EqualValues(t, 1, b.admin(t, "SELECT count(*) FROM "+b.acme.Schema+".notes WHERE body = 'plugin only'"))

	// Core and plugin statements in one unit of work: one connection each,
	// and both commit.
	require.NoError(t, b.uow.InTenant(ctx, b.acme.Scope(), func(ctx context.Context) error {
		tx, err := postgres.TxFrom(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "UPDATE users SET name = name WHERE false")
		require.NoError(t, err)
		assert.EqualValues(t, 1, held())
		_, err = b.sql.Exec(ctx, "notes", "INSERT INTO notes (body) VALUES ('both')", nil)
		return err
	}))
	assert.Zero(t, held(), "released after the unit of work")
	assert.EqualValues(t, 1, b.admin(t, "SELECT count(*) FROM "+b.acme.Schema+".notes WHERE body = 'both'"))
}

// Each case is a second migration of plugin notes, refused in both tenants
// with nothing left of it: the cases share one installation.
func TestPluginMigrationsReachOnlyThePluginsObjects(t *testing.T) {
	ctx := context.Background()
	b := newBoundary(t, 2)
	for _, tt := range []struct{ name, sql string }{
		{"drop the audit log", "DROP TABLE audit_log CASCADE"},
		{"drop a core index", "DROP INDEX users_email_key"},
		{"drop the append-only trigger function", "DROP FUNCTION audit_append_only() CASCADE"},
		{"become the tenant role", "CREATE TABLE notes2 (id int)"}, // placeholder replaced below
		{"reset to the session's role", "RESET ROLE; DROP TABLE users CASCADE"},
		{"view over a core table", "CREATE VIEW notes_users AS SELECT email, password_hash FROM users"},
		{"view over the catalog", "CREATE VIEW notes_roles AS SELECT rolname FROM pg_roles"},
		{"foreign key to a core table", "CREATE TABLE notes_owned (user_id uuid REFERENCES users (id))"},
		{"function", "CREATE FUNCTION notes_f() RETURNS int LANGUAGE sql AS 'SELECT 1'"},
		{"shadowing function", "CREATE FUNCTION lower(text) RETURNS text LANGUAGE sql AS 'SELECT $1'"},
		{"trigger", "CREATE TABLE notes_t (id int); CREATE FUNCTION notes_tf() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; " +
			"CREATE TRIGGER notes_tr BEFORE INSERT ON notes_t FOR EACH ROW EXECUTE FUNCTION notes_tf()"},
		{"rule", "CREATE TABLE notes_r (id int); CREATE RULE notes_rule AS ON INSERT TO notes_r DO ALSO NOTIFY atrium_plugins"},
		{"grant to everyone", "CREATE TABLE notes_g (id int); GRANT SELECT ON notes_g TO PUBLIC"},
		{"default privileges", "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC; CREATE TABLE notes_d (id int)"},
		{"a table not named after the plugin", "CREATE TABLE outbox (id int)"},
		{"a sequence not named after the plugin", "CREATE SEQUENCE audit_log_seq"},
		{"a default drawing on a core sequence", "CREATE TABLE notes_s (id bigint DEFAULT nextval('audit_log_id_seq'))"},
		{"a policy", "CREATE TABLE notes_p (id int); ALTER TABLE notes_p ENABLE ROW LEVEL SECURITY; CREATE POLICY notes_pp ON notes_p USING (true)"},
		{"a collation", "CREATE COLLATION notes_c (locale = 'C')"},
		{"a large object", "SELECT lo_from_bytea(0, 'x')"},
		{"a temporary table", "CREATE TEMP TABLE notes_tmp (id int)"},
		{"the platform schema", "CREATE TABLE atrium.notes (id int)"},
		{"another plugin", "DROP TABLE other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sql := tt.sql
			if tt.name == "become the tenant role" {
				sql = "SET ROLE " + pgx.Identifier{b.acme.Role}.Sanitize() + "; DROP TABLE users CASCADE"
			}
			core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
			require.NoError(t, err)
			sum, err := postgres.NewRollout(b.pool, []*postgres.MigrationSet{core,
				plugin("notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)", sql),
			}, postgres.RolloutOptions{}).Run(ctx, nil)
			require.NoError(t, err)
			require.Len(t, sum.Failed, 2, "both tenants refuse it: %+v", sum)
			t.Logf("%s: %v", tt.name, sum.Failed[0].Err)

			inst, err := b.store.Installation(ctx)
			require.NoError(t, err)
			for _, tn := range []*tenancy.Tenant{b.acme, b.globex} {
				s := pgx.Identifier{tn.Schema}.Sanitize()
				assert.Equal(t, true, b.admin(t, `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL
					AND to_regclass($3) IS NOT NULL AND to_regprocedure($4) IS NOT NULL`,
					s+".audit_log", s+".users", s+".users_email_key", s+".audit_append_only()"), "core objects of %s", tn.Slug)
				assert.EqualValues(t, 1, b.admin(t, "SELECT version FROM atrium.tenant_migrations WHERE tenant_id = $1 AND component = 'notes'", tn.ID),
					"%s stays at the version before", tn.Slug)
				owner, _ := tenancy.PluginRoles(inst, tn.Slug, "notes")
				assert.Equal(t, []any{"notes", "notes_id_seq", "notes_pkey"}, b.admin(t, `SELECT array_agg(relname::text ORDER BY relname)
					FROM pg_class WHERE relowner = $1::regrole AND relnamespace <> 'pg_toast'::regnamespace`, owner),
					"the plugin owns what its first migration made, nothing more, in %s", tn.Slug)
			}
			assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'notes%' OR (proname = 'lower' AND pronamespace <> 'pg_catalog'::regnamespace)"))
			assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM pg_largeobject_metadata"))
			assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM pg_class WHERE relnamespace = 'atrium'::regnamespace AND relname = 'notes'"))
		})
	}
}

// A plugin's migration in one tenant cannot reach into another tenant.
func TestPluginMigrationsStayInTheirTenant(t *testing.T) {
	b := newBoundary(t, 2)
	ctx := context.Background()
	_, err := b.pool.Exec(ctx, "UPDATE atrium.tenants SET plugins = '{}' WHERE slug = 'globex'")
	require.NoError(t, err)
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	g := pgx.Identifier{b.globex.Schema}.Sanitize()
	for _, sql := range []string{"DROP TABLE " + g + ".notes", "INSERT INTO " + g + ".notes (body) VALUES ('from acme')",
		"CREATE TABLE " + g + ".notes_x (id int)", "ALTER TABLE " + g + ".users RENAME TO users_x"} {
		sum, err := postgres.NewRollout(b.pool, []*postgres.MigrationSet{core,
			plugin("notes", "CREATE TABLE notes (id bigserial PRIMARY KEY, body text NOT NULL)", sql),
		}, postgres.RolloutOptions{}).Run(ctx, nil)
		require.NoError(t, err)
		require.Len(t, sum.Failed, 1, sql)
		assert.Contains(t, sum.Failed[0].Err.Error(), "permission denied for schema", sql)
	}
	assert.Equal(t, "first", b.admin(t, "SELECT string_agg(body, ',') FROM "+g+".notes"))
	assert.Equal(t, true, b.admin(t, "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NULL", g+".users", g+".notes_x"))
}

func TestPluginRoleWithMoreRightsIsRefused(t *testing.T) {
	b := newBoundary(t, 4)
	inst, err := b.store.Installation(context.Background())
	require.NoError(t, err)
	_, runtime := tenancy.PluginRoles(inst, "acme", "notes")
	_, err = b.pool.Exec(context.Background(), "ALTER ROLE "+pgx.Identifier{runtime}.Sanitize()+" CREATEROLE")
	require.NoError(t, err)
	_, err = b.run(t, "SELECT 1")
	assert.ErrorContains(t, err, "refusing to run plugin SQL")
}

// Deleting a tenant drops its plugins' roles with it; a restore over it
// does too.
func TestTenantDeleteAndRestoreDropPluginRoles(t *testing.T) {
	b := newBoundary(t, 2)
	ctx := context.Background()
	inst, err := b.store.Installation(ctx)
	require.NoError(t, err)
	count := func(slug string) any {
		owner, runtime := tenancy.PluginRoles(inst, slug, "notes")
		return b.admin(t, "SELECT count(*) FROM pg_roles WHERE rolname IN ($1, $2)", owner, runtime)
	}
	require.EqualValues(t, 2, count("acme"))
	require.NoError(t, b.svc.Delete(ctx, "acme"))
	assert.EqualValues(t, 0, count("acme"))
	assert.EqualValues(t, 0, b.admin(t, "SELECT count(*) FROM atrium.tenant_plugin_roles WHERE tenant_id = $1", b.acme.ID))

	var archive bytes.Buffer
	require.NoError(t, b.svc.Backup(ctx, "globex", &archive))
	require.EqualValues(t, 2, count("globex"))
	_, err = b.svc.Restore(ctx, "globex", bytes.NewReader(archive.Bytes()), true)
	require.Error(t, err, "a backup of a tenant with plugins is not restorable yet")
	require.EqualValues(t, 2, count("globex"), "a refused restore drops nothing")
}

// With every plugin connection taken, a pool that needs one gets it as soon
// as a connection of another pool goes idle (which it then closes), not
// when its acquire gives up.
func TestAPluginPoolGetsRoomWhenAnotherPoolsConnectionGoesIdle(t *testing.T) {
	b := newBoundary(t, 2)
	ctx := context.Background()
	var held []func()
	for range 2 {
		c, _, done, err := b.conns.Acquire(ctx, b.acme.Scope(), "notes")
		require.NoError(t, err)
		held = append(held, func() { c.Release(); done() })
	}
	time.AfterFunc(300*time.Millisecond, held[0])
	t.Cleanup(held[1])

	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	c, _, done, err := b.conns.Acquire(wait, b.globex.Scope(), "notes")
	require.NoError(t, err)
	c.Release()
	done()
	assert.Less(t, time.Since(start), 2*time.Second, "it got the room the idle connection left")
}
