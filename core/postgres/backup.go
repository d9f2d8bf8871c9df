package postgres

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/tenancy"
)

// Backup archives are gzip-compressed tar files: manifest.json first, then
// one data/<table>.copy entry per table holding PostgreSQL's binary COPY
// format, in the manifest's order (parents before children). An operator can
// list and unpack one with ordinary tools.
const (
	backupFormat   = "atrium-tenant-backup"
	backupVersion  = 1
	manifestName   = "manifest.json"
	dataEntryDir   = "data/"
	dataEntrySufix = ".copy"
)

type backupManifest struct {
	Format     string          `json:"format"`
	Version    int             `json:"version"`
	CreatedAt  time.Time       `json:"created_at"`
	Tenant     backupTenant    `json:"tenant"`
	Migrations map[string]uint `json:"migrations"` // component -> version
	Tables     []backupTable   `json:"tables"`
	Sequences  []backupSeq     `json:"sequences"`
}

type backupTenant struct {
	Slug     string         `json:"slug"`
	Name     string         `json:"name"`
	Settings map[string]any `json:"settings"`
	Plugins  []string       `json:"plugins"`
}

type backupTable struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
}

type backupSeq struct {
	Name     string `json:"name"`
	Value    int64  `json:"value"`
	IsCalled bool   `json:"is_called"`
}

// Export writes a backup of the tenant's schema (data and migration state)
// to w. It reads one consistent snapshot, as the platform role: the tenant
// role may not read its plugins' tables.
func (s *TenantStore) Export(ctx context.Context, t *tenancy.Tenant, w io.Writer) error {
	versions, err := s.componentVersions(ctx, t)
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only
	tables, err := schemaTables(ctx, tx, t.Schema)
	if err != nil {
		return err
	}
	seqs, err := schemaSequences(ctx, tx, t.Schema)
	if err != nil {
		return err
	}
	m := backupManifest{
		Format: backupFormat, Version: backupVersion, CreatedAt: time.Now().UTC(),
		Tenant:     backupTenant{Slug: t.Slug, Name: t.Name, Settings: t.Settings, Plugins: t.Plugins},
		Migrations: versions, Tables: tables, Sequences: seqs,
	}

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeEntry(tw, manifestName, int64(len(manifest)), bytesReader(manifest)); err != nil {
		return err
	}
	for _, tb := range tables {
		if err := copyTableOut(ctx, tx, tw, t.Schema, tb); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// copyTableOut spools the table's COPY output to a temporary file: a tar
// header needs the entry's size before its bytes.
func copyTableOut(ctx context.Context, tx pgx.Tx, tw *tar.Writer, schema string, tb backupTable) error {
	f, err := os.CreateTemp("", "atrium-backup-*.copy")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// A query, not the table: COPY refuses a partitioned table by name.
	sql := fmt.Sprintf("COPY (SELECT %s FROM %s) TO STDOUT WITH (FORMAT binary)", columnList(tb.Columns), pgx.Identifier{schema, tb.Name}.Sanitize())
	if _, err := tx.Conn().PgConn().CopyTo(ctx, f, sql); err != nil {
		return fmt.Errorf("backup: copy %s: %w", tb.Name, err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return writeEntry(tw, dataEntryDir+tb.Name+dataEntrySufix, size, f)
}

func writeEntry(tw *tar.Writer, name string, size int64, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o600, ModTime: time.Now().UTC()}); err != nil {
		return err
	}
	_, err := io.Copy(tw, r)
	return err
}

func (s *TenantStore) componentVersions(ctx context.Context, t *tenancy.Tenant) (map[string]uint, error) {
	rows, err := s.pool.Query(ctx, "SELECT component, version, dirty FROM atrium.tenant_migrations WHERE tenant_id = $1", t.ID)
	if err != nil {
		return nil, unavailable(err)
	}
	out := map[string]uint{}
	for rows.Next() {
		var c string
		var v int64
		var dirty bool
		if err := rows.Scan(&c, &v, &dirty); err != nil {
			rows.Close()
			return nil, err
		}
		if dirty {
			rows.Close()
			return nil, kernel.E(kernel.KindConflict, "tenant %q has a failed %s migration; fix it before backing up", t.Slug, c)
		}
		out[c] = uint(v) //nolint:gosec // versions are positive
	}
	return out, rows.Err()
}
