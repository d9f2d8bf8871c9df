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
	}
	for _, sql := range refused {
		err := CheckSQL(sql)
		assert.Error(t, err, sql)
		assert.True(t, errors.Is(err, sdk.ErrInvalid), "%q: %v", sql, err)
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
