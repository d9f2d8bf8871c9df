package postgres

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/tenancy"
)

func invalidBackup(format string, args ...any) error {
	return kernel.E(kernel.KindBadRequest, "not a usable Atrium tenant backup: "+format, args...).WithCode("invalid_backup")
}

// Restore loads a backup into target, in one transaction. Without an
// existing tenant of target's slug one is created (role, schema, registry
// row) from target and the backup's name and settings; with one, replace must
// be set and its data is replaced. Either way the schema is migrated to the
// backup's version, loaded, then migrated forward to this binary's latest.
func (s *TenantStore) Restore(ctx context.Context, target *tenancy.Tenant, r io.Reader, replace bool) (*tenancy.Tenant, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, invalidBackup("not gzip data")
	}
	archive := tar.NewReader(gz)
	m, err := readManifest(archive)
	if err != nil {
		return nil, err
	}
	version, ok := m.Migrations[s.migrations.Component]
	if !ok || len(m.Migrations) != 1 {
		return nil, invalidBackup("it holds components %v; this core restores %q only", keys(m.Migrations), s.migrations.Component)
	}
	if version > s.migrations.Latest() {
		return nil, invalidBackup("it is at %s migration %d, newer than this core's %d; upgrade Atrium first", s.migrations.Component, version, s.migrations.Latest())
	}

	var out *tenancy.Tenant
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := s.restoreTarget(ctx, tx, target, m, replace)
		if err != nil {
			return err
		}
		// Everything runs as the platform role, which owns the schema and
		// the audit tables (the tenant role may not write the chain).
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+pgx.Identifier{t.Schema}.Sanitize()); err != nil {
			return err
		}
		if _, err := s.migrations.applyRange(ctx, tx, 0, version); err != nil {
			return fmt.Errorf("restore: migrate to the backup's version: %w", err)
		}
		if _, err := tx.Exec(ctx, "RESET ROLE"); err != nil { // 000005 sets it
			return err
		}
		if err := loadData(ctx, tx, t.Schema, m, archive); err != nil {
			return err
		}
		latest, err := s.migrations.applyAfter(ctx, tx, version)
		if err != nil {
			return fmt.Errorf("restore: migrate forward: %w", err)
		}
		if err := grantTenant(ctx, tx, s.keys, t.Schema, t.Role); err != nil {
			return err
		}
		if err := revokeSessions(ctx, tx); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "RESET ROLE; SET LOCAL search_path TO "+pgx.Identifier{BaselineSchema}.Sanitize())
		if err != nil {
			return err
		}
		if err := s.recordChange(ctx, tx, t.Scope()); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO atrium.tenant_migrations (tenant_id, component, version) VALUES ($1, $2, $3)
			ON CONFLICT (tenant_id, component) DO UPDATE SET version = excluded.version, dirty = false, last_error = NULL, updated_at = now()`,
			t.ID, s.migrations.Component, latest)
		out = t
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// restoreTarget prepares an empty, owned schema for the restore and returns
// the tenant it belongs to.
func (s *TenantStore) restoreTarget(ctx context.Context, tx pgx.Tx, target *tenancy.Tenant, m *backupManifest, replace bool) (*tenancy.Tenant, error) {
	existing, err := scanTenant(tx.QueryRow(ctx, "SELECT "+tenantColumns+" FROM atrium.tenants WHERE slug = $1 FOR UPDATE", target.Slug))
	switch {
	case err == nil && !replace:
		return nil, kernel.E(kernel.KindConflict, "tenant %q exists; restore with replace=true to replace its data", target.Slug)
	case err == nil:
		if err := lockAudit(ctx, tx, existing.Schema); err != nil {
			return nil, err
		}
		if err := notifyTenancy(ctx, tx, existing.ID); err != nil {
			return nil, err
		}
		// The plugins' roles go with their objects; enabling a plugin
		// again makes new ones.
		if err := dropPluginRoles(ctx, tx, existing.ID); err != nil {
			return nil, err
		}
		schema := pgx.Identifier{existing.Schema}.Sanitize()
		_, err = tx.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE; CREATE SCHEMA "+schema)
		return existing, err
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, err
	}
	t := *target
	t.Name, t.Settings, t.Plugins = m.Tenant.Name, orEmptyMap(m.Tenant.Settings), orEmptySlice(m.Tenant.Plugins)
	if t.Name == "" {
		t.Name = t.Slug
	}
	if err := createTenant(ctx, tx, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

func readManifest(archive *tar.Reader) (*backupManifest, error) {
	h, err := archive.Next()
	if err != nil || h.Name != manifestName {
		return nil, invalidBackup("%s must be its first entry", manifestName)
	}
	var m backupManifest
	dec := json.NewDecoder(io.LimitReader(archive, 16<<20))
	if err := dec.Decode(&m); err != nil {
		return nil, invalidBackup("unreadable manifest: %v", err)
	}
	if m.Format != backupFormat || m.Version != backupVersion {
		return nil, invalidBackup("format %q version %d, want %q version %d", m.Format, m.Version, backupFormat, backupVersion)
	}
	return &m, nil
}

// loadData empties the freshly migrated tables (migrations may seed rows the
// backup also holds) and copies the backup's rows in, parents first. It
// writes only to the tenant's own tables and sequences, named with the
// tenant's schema: a manifest that names anything else (a catalog, a
// table of the platform or of another tenant, a table a backup never holds)
// is refused before a row is written.
func loadData(ctx context.Context, tx pgx.Tx, schema string, m *backupManifest, archive *tar.Reader) error {
	present, err := schemaTables(ctx, tx, schema)
	if err != nil {
		return err
	}
	if err := checkManifest(ctx, tx, schema, m, present); err != nil {
		return err
	}
	// The append-only audit tables refuse TRUNCATE; in the fresh schema a
	// restore loads into, no migration has put rows in them.
	present = slices.DeleteFunc(present, func(t backupTable) bool { return slices.Contains(appendOnlyTables, t.Name) })
	if len(present) > 0 {
		names := make([]string, len(present))
		for i, t := range present {
			names[i] = pgx.Identifier{t.Name}.Sanitize()
		}
		// CASCADE empties the session tables too (they reference users and
		// are never in a backup): no session survives a restore.
		if _, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(names, ", ")+" CASCADE"); err != nil {
			return fmt.Errorf("restore: empty tables: %w", err)
		}
	}
	tables := map[string]backupTable{}
	for _, t := range m.Tables {
		tables[t.Name] = t
	}
	for {
		h, err := archive.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return invalidBackup("corrupt archive: %v", err)
		}
		name, ok := strings.CutPrefix(h.Name, dataEntryDir)
		name, ok2 := strings.CutSuffix(name, dataEntrySufix)
		tb, known := tables[name]
		if !ok || !ok2 || !known {
			return invalidBackup("unexpected entry %q", h.Name)
		}
		sql := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT binary)", pgx.Identifier{schema, tb.Name}.Sanitize(), columnList(tb.Columns))
		if _, err := tx.Conn().PgConn().CopyFrom(ctx, archive, sql); err != nil {
			return kernel.Wrap(kernel.KindBadRequest, err, "the backup's table %s does not fit this schema", tb.Name).WithCode("invalid_backup")
		}
	}
	for _, seq := range m.Sequences {
		_, err := tx.Exec(ctx, "SELECT setval($1::regclass, $2, $3)", pgx.Identifier{schema, seq.Name}.Sanitize(), seq.Value, seq.IsCalled)
		if err != nil {
			return kernel.Wrap(kernel.KindBadRequest, err, "the backup's sequence %s does not fit this schema", seq.Name).WithCode("invalid_backup")
		}
	}
	return nil
}

// checkManifest refuses a manifest that names a table or sequence the
// freshly migrated schema does not have, or one a backup never holds.
func checkManifest(ctx context.Context, tx pgx.Tx, schema string, m *backupManifest, present []backupTable) error {
	own := map[string]bool{}
	for _, t := range present {
		own[t.Name] = true
	}
	for _, t := range m.Tables {
		if !own[t.Name] {
			return invalidBackup("table %q is not one of the tenant's", t.Name)
		}
	}
	seqs, err := schemaSequences(ctx, tx, schema)
	if err != nil {
		return err
	}
	ownSeq := map[string]bool{}
	for _, s := range seqs {
		ownSeq[s.Name] = true
	}
	for _, s := range m.Sequences {
		if !ownSeq[s.Name] {
			return invalidBackup("sequence %q is not one of the tenant's", s.Name)
		}
	}
	return nil
}

// revokeSessions makes every token issued before the restore stop working:
// the restored users' sessions belong to another point in time.
func revokeSessions(ctx context.Context, tx pgx.Tx) error {
	var has bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'tokens_valid_after')`).Scan(&has)
	if err != nil || !has {
		return err
	}
	_, err = tx.Exec(ctx, "UPDATE users SET tokens_valid_after = now()")
	return err
}

func keys(m map[string]uint) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func orEmptyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func orEmptySlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
