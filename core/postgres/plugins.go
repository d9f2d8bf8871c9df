package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/sdk"
)

// PluginCatalog keeps the registered plugins in atrium.plugins.
type PluginCatalog struct{ pool *pgxpool.Pool }

var _ pluginhost.Catalog = (*PluginCatalog)(nil)

// NewPluginCatalog returns the catalog store.
func NewPluginCatalog(pool *pgxpool.Pool) *PluginCatalog { return &PluginCatalog{pool: pool} }

// List returns every registered plugin, by name.
func (c *PluginCatalog) List(ctx context.Context) ([]pluginhost.Entry, error) {
	rows, err := c.pool.Query(ctx, "SELECT name, version, file, sha256, required, registered_at FROM atrium.plugins ORDER BY name")
	if err != nil {
		return nil, unavailable(err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pluginhost.Entry, error) {
		var e pluginhost.Entry
		return e, r.Scan(&e.Name, &e.Version, &e.File, &e.SHA256, &e.Required, &e.RegisteredAt)
	})
	return entries, classify(err)
}

// PluginsChannel carries "the plugin catalog changed" (the plugin's name)
// to every replica, whose hosts bring their plugins in line.
const PluginsChannel = "atrium_plugins"

// Put registers or upgrades a plugin.
func (c *PluginCatalog) Put(ctx context.Context, e pluginhost.Entry) error {
	return classify(pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO atrium.plugins (name, version, file, sha256, required, registered_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (name) DO UPDATE SET version = excluded.version, file = excluded.file, sha256 = excluded.sha256,
				required = excluded.required, registered_at = excluded.registered_at`,
			e.Name, e.Version, e.File, e.SHA256, e.Required, e.RegisteredAt)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", PluginsChannel, e.Name)
		return err
	}))
}

// Add registers a plugin unless one of its name is registered; it reports
// whether it did. Only an insert tells the other replicas.
func (c *PluginCatalog) Add(ctx context.Context, e pluginhost.Entry) (bool, error) {
	added := false
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO atrium.plugins (name, version, file, sha256, required, registered_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
			e.Name, e.Version, e.File, e.SHA256, e.Required, e.RegisteredAt)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		added = true
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", PluginsChannel, e.Name)
		return err
	})
	return added && err == nil, classify(err)
}

// Delete unregisters a plugin.
func (c *PluginCatalog) Delete(ctx context.Context, name string) error {
	return classify(pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM atrium.plugins WHERE name = $1", name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return kernel.NotFound("plugin")
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", PluginsChannel, name)
		return err
	}))
}

// PluginMigrator applies plugins' tenant migrations, through the same
// rollout as the core's: to every tenant that enabled the plugin, with
// bounded parallelism, failures isolated per tenant, safe from two
// replicas at once.
type PluginMigrator struct {
	pool *pgxpool.Pool
	core *MigrationSet
}

// NewPluginMigrator returns the migrator; core is the core's tenant set,
// which always runs first.
func NewPluginMigrator(pool *pgxpool.Pool, core *MigrationSet) *PluginMigrator {
	return &PluginMigrator{pool: pool, core: core}
}

var _ pluginhost.Migrator = (*PluginMigrator)(nil)

// Migrate brings every tenant that enabled one of the plugins up to date.
// A tenant that fails is reported in the error and left for the next run.
func (m *PluginMigrator) Migrate(ctx context.Context, plugins []sdk.Manifest) error {
	sets := []*MigrationSet{m.core}
	for _, p := range plugins {
		if len(p.Migrations) > 0 {
			sets = append(sets, PluginMigrations(p))
		}
	}
	if len(sets) == 1 {
		return nil
	}
	sum, err := NewRollout(m.pool, sets, RolloutOptions{}).Run(ctx, nil)
	if err != nil {
		return err
	}
	if len(sum.Failed) > 0 {
		f := sum.Failed[0]
		return fmt.Errorf("%d tenants failed to migrate, first %s (%s): %w", len(sum.Failed), f.Tenant, f.Component, f.Err)
	}
	return nil
}

// PluginMigrations is a plugin manifest's tenant migrations as a set whose
// component is the plugin's name.
func PluginMigrations(m sdk.Manifest) *MigrationSet {
	set := &MigrationSet{Component: m.Name, up: map[uint]string{}}
	for _, mg := range m.Migrations {
		v := uint(mg.Version)
		set.versions = append(set.versions, v)
		set.up[v] = mg.Up
		set.legacy = append(set.legacy, pluginhost.MigrationObjects(mg.Up)...)
	}
	slices.Sort(set.versions)
	return set
}
