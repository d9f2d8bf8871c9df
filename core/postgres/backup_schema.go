package postgres

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// unsavedTables are left out of backups. The session tables hold sign-in
// sessions, not the tenant's data: restoring can never bring back a session
// revoked after the backup was taken. API keys are left out for the same
// reason (a restore leaves the service accounts without keys). audit_key holds a secret derived from
// the installation's, which the restore writes anew.
var unsavedTables = []string{"refresh_families", "refresh_tokens", "service_account_keys", "audit_key"}

// appendOnlyTables refuse UPDATE, DELETE and TRUNCATE (migration
// 000005_audit).
var appendOnlyTables = []string{"audit_log", "audit_chain", "audit_head"}

func columnList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// schemaTables lists the schema's tables with their stored (non-generated)
// columns, parents before the tables whose foreign keys point at them.
func schemaTables(ctx context.Context, tx pgx.Tx, schema string) ([]backupTable, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.relname, array_agg(a.attname ORDER BY a.attnum)
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		GROUP BY c.relname ORDER BY c.relname`, schema)
	if err != nil {
		return nil, fmt.Errorf("backup: list tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (backupTable, error) {
		var t backupTable
		return t, r.Scan(&t.Name, &t.Columns)
	})
	if err != nil {
		return nil, fmt.Errorf("backup: list tables: %w", err)
	}
	tables = slices.DeleteFunc(tables, func(t backupTable) bool { return slices.Contains(unsavedTables, t.Name) })
	return orderByDependencies(ctx, tx, schema, tables)
}

// orderByDependencies sorts tables so every table comes after the tables it
// references (Kahn's algorithm, ties by name for a stable archive).
func orderByDependencies(ctx context.Context, tx pgx.Tx, schema string, tables []backupTable) ([]backupTable, error) {
	rows, err := tx.Query(ctx, `
		SELECT child.relname, parent.relname
		FROM pg_constraint k
		JOIN pg_class child ON child.oid = k.conrelid
		JOIN pg_class parent ON parent.oid = k.confrelid
		JOIN pg_namespace n ON n.oid = k.connamespace
		WHERE k.contype = 'f' AND n.nspname = $1 AND child.oid <> parent.oid`, schema)
	if err != nil {
		return nil, fmt.Errorf("backup: list foreign keys: %w", err)
	}
	type edge struct{ child, parent string }
	deps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (edge, error) {
		var e edge
		return e, r.Scan(&e.child, &e.parent)
	})
	if err != nil {
		return nil, fmt.Errorf("backup: list foreign keys: %w", err)
	}
	byName := map[string]backupTable{}
	pending := map[string]int{}
	children := map[string][]string{}
	for _, t := range tables {
		byName[t.Name] = t
		pending[t.Name] = 0
	}
	for _, e := range deps {
		if _, ok := byName[e.child]; !ok {
			continue // a table the backup leaves out
		}
		if _, ok := byName[e.parent]; !ok {
			continue
		}
		pending[e.child]++
		children[e.parent] = append(children[e.parent], e.child)
	}
	var ready, order []string
	for name, n := range pending {
		if n == 0 {
			ready = append(ready, name)
		}
	}
	for len(ready) > 0 {
		sort.Strings(ready)
		name := ready[0]
		ready = ready[1:]
		order = append(order, name)
		for _, c := range children[name] {
			if pending[c]--; pending[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	if len(order) != len(tables) {
		return nil, fmt.Errorf("backup: foreign keys of schema %s form a cycle", schema)
	}
	out := make([]backupTable, len(order))
	for i, name := range order {
		out[i] = byName[name]
	}
	return out, nil
}

func schemaSequences(ctx context.Context, tx pgx.Tx, schema string) ([]backupSeq, error) {
	rows, err := tx.Query(ctx, `SELECT sequencename FROM pg_sequences WHERE schemaname = $1 ORDER BY sequencename`, schema)
	if err != nil {
		return nil, fmt.Errorf("backup: list sequences: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	seqs := make([]backupSeq, 0, len(names))
	for _, n := range names {
		s := backupSeq{Name: n}
		if err := tx.QueryRow(ctx, "SELECT last_value, is_called FROM "+pgx.Identifier{schema, n}.Sanitize()).Scan(&s.Value, &s.IsCalled); err != nil {
			return nil, fmt.Errorf("backup: read sequence %s: %w", n, err)
		}
		seqs = append(seqs, s)
	}
	return seqs, nil
}
