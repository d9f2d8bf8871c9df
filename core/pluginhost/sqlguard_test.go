package pluginhost

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/atriumhq/atrium/sdk"
)

func TestCheckSQL(t *testing.T) {
	allowed := []string{
		"SELECT id, name FROM projects WHERE id = $1",
		"  select * from tasks where project_id = $1 order by created_at desc limit 51",
		"INSERT INTO projects (id, name) VALUES ($1, $2)",
		"UPDATE tasks SET status = $1 WHERE id = $2",
		"DELETE FROM tasks WHERE id = $1;",
		"WITH t AS (SELECT 1) SELECT * FROM t",
		"SELECT 'users; DROP TABLE users' AS s",         // in a string
		"SELECT $$ set_config('role') $$ AS s",          // dollar-quoted
		"SELECT $tag$ it's users $tag$ FROM projects",   // tagged dollar quote
		"SELECT 1 -- users\n FROM projects",             // a comment
		"SELECT /* nested /* roles */ */ 1 FROM tasks",  // nested comment
		"SELECT E'it\\'s users' FROM tasks",             // escaped quote
		"SELECT pg_advisory_xact_lock(1)",               // ends with the transaction
		`SELECT "name" FROM "projects"`,                 // quoted identifiers
		"SELECT user_count, roles_json FROM dashboards", // words that merely contain a core name
	}
	for _, sql := range allowed {
		assert.NoError(t, CheckSQL(sql), sql)
	}
	refused := []string{
		"",
		"   ",
		"RESET ROLE",
		"SET ROLE postgres",
		"SET LOCAL search_path TO t_other",
		"SELECT set_config('role', 'postgres', true)",
		"select SET_CONFIG('search_path', 'x', true)",
		"BEGIN",
		"COMMIT",
		"ROLLBACK",
		"CREATE TABLE x (id int)",
		"DROP TABLE audit_log",
		"ALTER TABLE projects ADD COLUMN x int",
		"GRANT ALL ON projects TO PUBLIC",
		"TRUNCATE projects",
		"COPY projects TO STDOUT",
		"DO $$ BEGIN END $$",
		"CALL something()",
		"SELECT 1; SELECT 2",
		"SELECT 1; RESET ROLE",
		"SELECT * FROM users",
		"SELECT * FROM t_acme.users",
		`SELECT * FROM "users"`,
		"SELECT password_hash FROM USERS",
		"INSERT INTO audit_log (action) VALUES ('forged')",
		"DELETE FROM refresh_tokens",
		"SELECT pg_advisory_lock(1)",
		"SELECT pg_try_advisory_lock(1)",
		"SELECT pg_terminate_backend(1)",
		"SELECT 'unterminated",
		"SELECT /* unterminated",
		`SELECT "unterminated`,
		"SELECT $x$ unterminated",
		`"users"`,
		`SELECT email FROM U&"\0075sers"`,
		`SELECT U&'\0075' FROM projects`,
		"SELECT query_to_xml('SELECT email FROM users', true, true, '')::text",
		"SELECT table_to_xml('users', true, true, '')",
		"SELECT * FROM ts_stat('SELECT to_tsvector(email) FROM users')",
	}
	for _, sql := range refused {
		err := CheckSQL(sql)
		assert.Error(t, err, sql)
		assert.True(t, errors.Is(err, sdk.ErrInternal), "a plugin's bug, not the client's: %q: %v", sql, err)
	}
}

func TestCheckMigration(t *testing.T) {
	ok := []string{
		`CREATE TABLE projects (id uuid PRIMARY KEY, name text NOT NULL CHECK (name <> ''));
		 CREATE INDEX projects_name_idx ON projects (name, id);
		 CREATE UNIQUE INDEX projects_slug ON projects (lower(name));
		 ALTER TABLE projects ADD COLUMN status text NOT NULL DEFAULT 'active';
		 ALTER TABLE projects ALTER COLUMN status SET DEFAULT 'archived';
		 COMMENT ON TABLE projects IS 'ours';
		 CREATE VIEW active_projects AS SELECT * FROM projects WHERE status = 'active';
		 CREATE TYPE mood AS ENUM ('ok', 'meh');
		 INSERT INTO projects (id, name) VALUES ('00000000-0000-0000-0000-000000000001', 'seed');
		 DROP TABLE IF EXISTS old_things;`,
		"-- nothing but a comment",
	}
	for _, sql := range ok {
		assert.NoError(t, CheckMigration(sql), sql)
	}
	refused := []string{
		"RESET ROLE; CREATE TABLE public.zz AS SELECT current_user AS who",
		"SET ROLE postgres",
		"SELECT set_config('role', 'postgres', true)",
		"GRANT SELECT ON projects TO PUBLIC",
		"REVOKE ALL ON projects FROM PUBLIC",
		"ALTER TABLE projects OWNER TO postgres",
		"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
		"CREATE OR REPLACE FUNCTION f() RETURNS trigger AS $$ BEGIN RESET ROLE; END $$ LANGUAGE plpgsql",
		"CREATE TRIGGER t BEFORE INSERT ON projects FOR EACH ROW EXECUTE FUNCTION f()",
		"DO $$ BEGIN EXECUTE 'RESET ROLE'; END $$",
		"CREATE SCHEMA evil",
		"CREATE ROLE evil",
		"CREATE EXTENSION dblink",
		"ALTER TABLE users ADD COLUMN x int",
		"DROP TABLE audit_log",
		"CREATE INDEX i ON refresh_tokens (hash)",
		"CREATE TABLE x AS SELECT * FROM U&\"\\0075sers\"",
		"COPY projects FROM '/etc/passwd'",
		"CALL p()",
	}
	for _, sql := range refused {
		assert.Error(t, CheckMigration(sql), sql)
	}
}

func FuzzCheckSQL(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SELECT * FROM users", "SELECT $$a$$", "SELECT 'a''b'", "/* */ SELECT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		err := CheckSQL(sql) // never panics
		if err == nil && (len(sql) == 0) {
			t.Fatal("the empty statement passed")
		}
	})
}
