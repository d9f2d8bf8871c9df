package postgres_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/tenancy"
	"github.com/atriumhq/atrium/migrations"
)

// A tenant schema with a sequence, a foreign key and a generated column.
var backupMigrations = fstest.MapFS{
	"tenant/000001_users.up.sql":   {Data: must(migrations.Tenant.ReadFile("tenant/000001_users.up.sql"))},
	"tenant/000001_users.down.sql": {Data: []byte("DROP TABLE users;")},
	"tenant/000002_projects.up.sql": {Data: []byte(`
		CREATE TABLE projects (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, owner uuid REFERENCES users (id));
		CREATE TABLE tasks (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, project_id bigint NOT NULL REFERENCES projects (id),
			title text NOT NULL, title_upper text GENERATED ALWAYS AS (upper(title)) STORED);`)},
	"tenant/000002_projects.down.sql": {Data: []byte("DROP TABLE tasks; DROP TABLE projects;")},
}

// newerMigrations is a schema from a future Atrium: version 999.
var newerMigrations = fstest.MapFS{
	"tenant/000001_users.up.sql":    backupMigrations["tenant/000001_users.up.sql"],
	"tenant/000001_users.down.sql":  backupMigrations["tenant/000001_users.down.sql"],
	"tenant/000999_future.up.sql":   {Data: []byte("CREATE TABLE future (id int)")},
	"tenant/000999_future.down.sql": {Data: []byte("DROP TABLE future")},
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	set, err := postgres.LoadMigrations("core", backupMigrations, "tenant")
	require.NoError(t, err)
	store := postgres.NewTenantStore(e.pool, set)
	svc := tenancy.NewService(store, fixedHasher{}, kernel.SystemClock{})
	acme, err := svc.Create(ctx, tenancy.CreateInput{Slug: "acme", Name: "Acme", AdminEmail: "admin@acme.test", AdminPassword: "x", Settings: map[string]any{"k": "v"}})
	require.NoError(t, err)

	exec := func(tn *tenancy.Tenant, sql string) {
		t.Helper()
		require.NoError(t, e.uow.InTenant(ctx, tn.Scope(), func(ctx context.Context) error {
			tx, _ := postgres.TxFrom(ctx)
			_, err := tx.Exec(ctx, sql)
			return err
		}))
	}
	snapshot := func(tn *tenancy.Tenant) (rows []string) {
		t.Helper()
		require.NoError(t, e.uow.InTenant(ctx, tn.Scope(), func(ctx context.Context) error {
			tx, _ := postgres.TxFrom(ctx)
			r, err := tx.Query(ctx, `SELECT format('%s|%s|%s|%s', p.id, p.name, t.id, t.title_upper) FROM projects p
				LEFT JOIN tasks t ON t.project_id = p.id ORDER BY p.id, t.id`)
			if err != nil {
				return err
			}
			defer r.Close()
			for r.Next() {
				var s string
				if err := r.Scan(&s); err != nil {
					return err
				}
				rows = append(rows, s)
			}
			var next int64
			if err := tx.QueryRow(ctx, "INSERT INTO projects (name) VALUES ('probe') RETURNING id").Scan(&next); err != nil {
				return err
			}
			rows = append(rows, "next id after restore point: ok")
			_, err = tx.Exec(ctx, "DELETE FROM projects WHERE id = $1", next)
			return err
		}))
		return rows
	}
	exec(acme, `INSERT INTO projects (name, owner) SELECT 'p' || g, (SELECT id FROM users) FROM generate_series(1, 30) g;
		INSERT INTO tasks (project_id, title) SELECT p.id, 'task ' || p.id || '-' || g FROM projects p, generate_series(1, 3) g;
		DELETE FROM projects WHERE id = 30 AND NOT EXISTS (SELECT 1 FROM tasks WHERE project_id = 30)`)
	want := snapshot(acme)

	var archive bytes.Buffer
	require.NoError(t, svc.Backup(ctx, "acme", &archive))

	// Into a new tenant: created from the backup, same rows, sequences continue.
	copyT, err := svc.Restore(ctx, "acme-copy", bytes.NewReader(archive.Bytes()), false)
	require.NoError(t, err)
	assert.Equal(t, "Acme", copyT.Name)
	assert.Equal(t, map[string]any{"k": "v"}, copyT.Settings)
	assert.Equal(t, want, snapshot(copyT))
	var users int
	require.NoError(t, e.uow.InTenant(ctx, copyT.Scope(), func(ctx context.Context) error {
		tx, _ := postgres.TxFrom(ctx)
		return tx.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&users)
	}))
	assert.Equal(t, 1, users, "the backup's users, not a new admin")
	exec(copyT, "INSERT INTO projects (name) VALUES ('after restore')") // identity continues past restored ids

	// Into an existing tenant: refused without replace, replaced with it.
	_, err = svc.Restore(ctx, "acme-copy", bytes.NewReader(archive.Bytes()), false)
	assert.ErrorIs(t, err, kernel.ErrConflict)
	_, err = svc.Restore(ctx, "acme-copy", bytes.NewReader(archive.Bytes()), true)
	require.NoError(t, err)
	assert.Equal(t, want, snapshot(copyT))

	// The source is untouched and the copies are isolated from it.
	assert.Equal(t, want, snapshot(acme))
}

func TestRestoreRefusesWhatItCannotUse(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	e.create(t, "acme")
	var archive bytes.Buffer
	require.NoError(t, e.svc.Backup(ctx, "acme", &archive))

	var gzipped bytes.Buffer
	zw := gzip.NewWriter(&gzipped)
	_, _ = zw.Write([]byte("not a tar"))
	_ = zw.Close()
	for name, body := range map[string][]byte{
		"not gzip":  []byte("hello"),
		"not tar":   gzipped.Bytes(),
		"truncated": archive.Bytes()[:archive.Len()/2],
	} {
		_, err := e.svc.Restore(ctx, "target", bytes.NewReader(body), false)
		require.Error(t, err, name)
		assert.Contains(t, []kernel.Kind{kernel.KindBadRequest}, kernel.KindOf(err), "%s: %v", name, err)
	}
	_, err := e.svc.Get(ctx, "target")
	assert.ErrorIs(t, err, kernel.ErrNotFound, "a refused restore leaves nothing behind")

	// A backup from a newer schema than this binary knows is refused.
	newer, err := postgres.LoadMigrations("core", newerMigrations, "tenant")
	require.NoError(t, err)
	newSvc := tenancy.NewService(postgres.NewTenantStore(e.pool, newer), fixedHasher{}, kernel.SystemClock{})
	_, err = newSvc.Create(ctx, tenancy.CreateInput{Slug: "modern", Name: "m", AdminEmail: "a@m.test", AdminPassword: "x"})
	require.NoError(t, err)
	var modern bytes.Buffer
	require.NoError(t, newSvc.Backup(ctx, "modern", &modern))
	_, err = e.svc.Restore(ctx, "target", bytes.NewReader(modern.Bytes()), false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "migration 999, newer than this core's")
}
