package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/golang-migrate/migrate/v4/source"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/pgconn"
)

// MigrationSet is a component's tenant migrations ("core" or a plugin's),
// read once through golang-migrate's source driver.
//
// Tenant schemas are migrated by Atrium rather than by golang-migrate's
// database driver: each migration runs inside a transaction that is already
// scoped to the tenant (its role and search_path), which also lets tenant
// provisioning create the schema and migrate it atomically.
type MigrationSet struct {
	Component string
	versions  []uint
	up        map[uint]string
	// legacy names the objects a plugin's migrations create or rename,
	// which older releases let the tenant role own (adoptLegacyObjects).
	legacy []string
}

// LoadMigrations reads the up migrations in dir of fsys.
func LoadMigrations(component string, fsys fs.FS, dir string) (*MigrationSet, error) {
	src, err := iofs.New(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", component, err)
	}
	defer src.Close()
	m := &MigrationSet{Component: component, up: map[uint]string{}}
	v, err := src.First()
	for err == nil {
		body, rerr := readUp(src, v)
		if rerr != nil {
			return nil, fmt.Errorf("read %s migration %d: %w", component, v, rerr)
		}
		m.versions = append(m.versions, v)
		m.up[v] = body
		v, err = src.Next(v)
	}
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s migrations: %w", component, err)
	}
	return m, nil
}

func readUp(src source.Driver, v uint) (string, error) {
	r, _, err := src.ReadUp(v)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

// Latest is the newest version, 0 when there are none.
func (m *MigrationSet) Latest() uint {
	if len(m.versions) == 0 {
		return 0
	}
	return m.versions[len(m.versions)-1]
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// applyAfter runs every migration newer than from on conn, which the caller
// has scoped to the tenant inside a transaction, and returns the version
// reached. The caller's transaction makes the run all or nothing.
func (m *MigrationSet) applyAfter(ctx context.Context, conn execer, from uint) (uint, error) {
	return m.applyRange(ctx, conn, from, m.Latest())
}

// applyRange runs the migrations newer than from, up to and including upTo.
func (m *MigrationSet) applyRange(ctx context.Context, conn execer, from, upTo uint) (uint, error) {
	to := from
	for _, v := range m.versions {
		if v <= from || v > upTo {
			continue
		}
		// No arguments: the simple protocol runs multi-statement files.
		if _, err := conn.Exec(ctx, m.up[v]); err != nil {
			return to, fmt.Errorf("%s migration %d: %w", m.Component, v, err)
		}
		to = v
	}
	return to, nil
}
