package postgres_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
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

// asPlatform runs fn in a transaction of the platform role (the test's own
// user) in the tenant's schema.
func (e *env) asPlatform(ctx context.Context, tn *tenancy.Tenant, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+pgx.Identifier{tn.Schema}.Sanitize()); err != nil {
			return err
		}
		return fn(tx)
	})
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

	// These tables are the test's own core tables, on which the tenant role
	// has no grant: the platform role (the test's) writes and reads them.
	exec := func(tn *tenancy.Tenant, sql string) {
		t.Helper()
		require.NoError(t, e.asPlatform(ctx, tn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, sql)
			return err
		}))
	}
	snapshot := func(tn *tenancy.Tenant) (rows []string) {
		t.Helper()
		require.NoError(t, e.asPlatform(ctx, tn, func(tx pgx.Tx) error {
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

	// A manifest that names anything but the tenant's own tables or
	// sequences is refused before a row is written: a catalog (unqualified,
	// pg_catalog comes first), a table a backup never holds, none at all.
	countDescriptions := func() (n int) {
		require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM pg_description").Scan(&n))
		return n
	}
	descriptions := countDescriptions()
	for name, rename := range map[string]func(m map[string]any){
		"a catalog table":     func(m map[string]any) { renameTable(m, "users", "pg_description") },
		"a platform table":    func(m map[string]any) { renameTable(m, "users", "atrium.operators") },
		"a session table":     func(m map[string]any) { renameTable(m, "users", "refresh_tokens") },
		"the audit key":       func(m map[string]any) { renameTable(m, "users", "audit_key") },
		"an unknown table":    func(m map[string]any) { renameTable(m, "users", "nothing_here") },
		"a catalog sequence":  func(m map[string]any) { renameSequence(m, "audit_log_id_seq", "pg_catalog.pg_class") },
		"an unknown sequence": func(m map[string]any) { renameSequence(m, "audit_log_id_seq", "nothing_seq") },
	} {
		_, err := e.svc.Restore(ctx, "target", bytes.NewReader(craft(t, archive.Bytes(), rename)), false)
		require.Error(t, err, name)
		assert.Equal(t, kernel.KindBadRequest, kernel.KindOf(err), "%s: %v", name, err)
		assert.Contains(t, err.Error(), "not one of the tenant's", name)
	}
	assert.Equal(t, descriptions, countDescriptions(), "nothing written to the catalog")
	_, err = e.svc.Get(ctx, "target")
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

// craft rewrites a backup: change edits its manifest (JSON), and data
// entries follow the tables' new names.
func craft(t *testing.T, archive []byte, change func(map[string]any)) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	renamed := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		if h.Name == "manifest.json" {
			var m map[string]any
			require.NoError(t, json.Unmarshal(body, &m))
			before := tableNames(m)
			change(m)
			for i, name := range tableNames(m) {
				if name != before[i] {
					renamed["data/"+before[i]+".copy"] = "data/" + name + ".copy"
				}
			}
			body, err = json.Marshal(m)
			require.NoError(t, err)
		}
		if n, ok := renamed[h.Name]; ok {
			h.Name = n
		}
		h.Size = int64(len(body))
		require.NoError(t, tw.WriteHeader(h))
		_, err = tw.Write(body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return out.Bytes()
}

func tableNames(m map[string]any) []string {
	var names []string
	for _, tb := range m["tables"].([]any) {
		names = append(names, tb.(map[string]any)["name"].(string))
	}
	return names
}

func renameTable(m map[string]any, from, to string) {
	for _, tb := range m["tables"].([]any) {
		if tb := tb.(map[string]any); tb["name"] == from {
			tb["name"] = to
		}
	}
}

func renameSequence(m map[string]any, from, to string) {
	for _, sq := range m["sequences"].([]any) {
		if sq := sq.(map[string]any); sq["name"] == from {
			sq["name"] = to
		}
	}
}
