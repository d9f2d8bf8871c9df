package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
)

var _ policy.ShadowStore = PolicyStore{}

// SaveShadow stores m as the module's next version, inactive, and makes it
// the tenant's shadow version with an empty comparison.
func (PolicyStore) SaveShadow(ctx context.Context, m policy.Module) (policy.Module, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return m, err
	}
	if err := bump(ctx, tx); err != nil {
		return m, err
	}
	var createdBy *string
	if m.CreatedBy != "" {
		createdBy = &m.CreatedBy
	}
	err = tx.QueryRow(ctx, `INSERT INTO policy_modules (name, version, rego, tests, active, created_at, created_by)
		SELECT $1, coalesce(max(version), 0) + 1, $2, $3, false, $4, $5 FROM policy_modules WHERE name = $1
		RETURNING version`, m.Name, m.Rego, m.Tests, m.CreatedAt, createdBy).Scan(&m.Version)
	if isCode(err, codeUniqueViolation) {
		return m, kernel.E(kernel.KindConflict, "policy module %q changed meanwhile; try again", m.Name)
	}
	if err != nil {
		return m, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO policy_shadow (name, version, created_at, created_by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version, created_at = excluded.created_at,
			created_by = excluded.created_by, decisions = 0, disagreements = 0, by_action = '{}', samples = '[]'`,
		m.Name, m.Version, m.CreatedAt, createdBy)
	m.Active = false
	return m, err
}

// Shadow reads the tenant's shadow version and its comparison.
func (PolicyStore) Shadow(ctx context.Context) (policy.Shadow, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return policy.Shadow{}, err
	}
	var sh policy.Shadow
	var byAction, samples []byte
	row := tx.QueryRow(ctx, `SELECT m.name, m.version, m.rego, m.tests, m.active, m.created_at, coalesce(m.created_by::text, ''),
			s.decisions, s.disagreements, s.by_action, s.samples
		FROM policy_shadow s JOIN policy_modules m USING (name, version)`)
	m := &sh.Module
	err = row.Scan(&m.Name, &m.Version, &m.Rego, &m.Tests, &m.Active, &m.CreatedAt, &m.CreatedBy,
		&sh.Decisions, &sh.Disagreements, &byAction, &samples)
	if err != nil {
		return sh, notFound(err, "shadow version")
	}
	m.CreatedAt = m.CreatedAt.UTC()
	if err := json.Unmarshal(byAction, &sh.ByAction); err != nil {
		return sh, fmt.Errorf("shadow version's counts: %w", err)
	}
	if err := json.Unmarshal(samples, &sh.Samples); err != nil {
		return sh, fmt.Errorf("shadow version's samples: %w", err)
	}
	return sh, nil
}

// DropShadow forgets the tenant's shadow version.
func (PolicyStore) DropShadow(ctx context.Context) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, "DELETE FROM policy_shadow")
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return kernel.NotFound("shadow version")
	}
	return bump(ctx, tx)
}

// AddToShadow adds d to the comparison, if version of module name is still
// the shadow version. The row is locked while the counts merge, so
// replicas' flushes add up.
func (PolicyStore) AddToShadow(ctx context.Context, name string, version int, d policy.ShadowDelta) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	var byActionRaw, samplesRaw []byte
	err = tx.QueryRow(ctx, "SELECT by_action, samples FROM policy_shadow WHERE name = $1 AND version = $2 FOR UPDATE",
		name, version).Scan(&byActionRaw, &samplesRaw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // shadowing ended or moved on: the counts are of nothing now
	}
	if err != nil {
		return err
	}
	byAction := map[string]policy.ActionCounts{}
	var samples []policy.Sample
	if err := json.Unmarshal(byActionRaw, &byAction); err != nil {
		return fmt.Errorf("shadow version's counts: %w", err)
	}
	if err := json.Unmarshal(samplesRaw, &samples); err != nil {
		return fmt.Errorf("shadow version's samples: %w", err)
	}
	for action, c := range d.ByAction {
		cur := byAction[action]
		cur.Decisions += c.Decisions
		cur.Disagreements += c.Disagreements
		byAction[action] = cur
	}
	samples = append(samples, d.Samples...)
	if len(samples) > policy.MaxSamples {
		samples = samples[len(samples)-policy.MaxSamples:]
	}
	_, err = tx.Exec(ctx, `UPDATE policy_shadow SET decisions = decisions + $1, disagreements = disagreements + $2,
		by_action = $3, samples = $4`, d.Decisions, d.Disagreements, byAction, samples)
	return err
}
