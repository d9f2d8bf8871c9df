package opa_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/internal/listquery"
)

// The filter's promise, checked on PostgreSQL: for random tenant policies
// and rows, a row is listed (the SQL condition holds, and the per-row
// decision when the filter fell back) exactly when the decision on that
// row's resource allows it.

var propColumns = access.ListColumns{
	ID:    &access.Column{Name: "id", Type: listquery.UUID},
	Owner: &access.Column{Name: "owner_id", Type: listquery.UUID, Nullable: true},
	Attributes: map[string]access.Column{
		"status":   {Name: "status", Type: listquery.Enum},
		"name":     {Name: "name", Type: listquery.String},
		"priority": {Name: "priority", Type: listquery.Int, Nullable: true},
		"pinned":   {Name: "pinned", Type: listquery.Bool, Nullable: true},
		"due":      {Name: "due", Type: listquery.Date, Nullable: true},
	},
}

type propRow struct {
	id, owner, status, name, due string // "" owner or due: NULL
	priority                     *int64
	pinned                       *bool
}

func (r propRow) resource() access.Resource {
	attrs := map[string]any{"status": r.status, "name": r.name}
	if r.priority != nil {
		attrs["priority"] = *r.priority
	}
	if r.pinned != nil {
		attrs["pinned"] = *r.pinned
	}
	if r.due != "" {
		attrs["due"] = r.due
	}
	return access.Resource{Type: "project", ID: r.id, OwnerID: r.owner, Attributes: attrs}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var propAtoms = []string{
	`input.resource.attributes.status == "archived"`,
	`input.resource.attributes.status != "active"`,
	`input.resource.attributes.name < "m"`,
	`input.resource.attributes.name >= "b'q"`,
	`input.resource.attributes.name in {"a", "b'q", "Ä"}`,
	`input.resource.attributes.priority > 3`,
	`input.resource.attributes.priority == 3`,
	`input.resource.attributes.priority != 3`,
	`input.resource.attributes.pinned`,
	`not input.resource.attributes.pinned`,
	`input.resource.attributes.pinned == false`,
	`input.resource.attributes.due == "2026-01-31"`,
	`input.resource.attributes.due != "2026-01-31"`,
	`input.resource.owner_id == input.subject.id`,
	`input.resource.owner_id != input.subject.id`,
	`input.resource.owner_id == ""`,
	`not input.resource.owner_id == ""`,
	`input.resource.attributes.missing == 1`,
	`not input.resource.attributes.missing`,
	`input.resource.attributes.status == 7`,
	`"viewer" in input.subject.roles`,
	`"member" in input.subject.roles`,
	`startswith(input.resource.attributes.name, "sec")`, // no SQL form
	`count(input.resource.attributes.name) > 2`,         // no SQL form
}

func randomPolicy(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString("package tenant\n")
	for i := range 1 + r.IntN(3) {
		kind := "deny"
		if r.IntN(3) == 0 {
			kind = "allow"
		}
		fmt.Fprintf(&b, "%s contains \"r%d\" if {\n", kind, i)
		for range 1 + r.IntN(3) {
			b.WriteString("\t" + propAtoms[r.IntN(len(propAtoms))] + "\n")
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func randomRows(r *rand.Rand, subject string, n int) []propRow {
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	rows := make([]propRow, n)
	for i := range rows {
		row := propRow{id: uuid.NewString(), status: pick("active", "archived"),
			name:  pick("a", "b", "b'q", "m", "z", "Ä", "", "secret-x", "ab"),
			owner: pick("", subject, uuid.NewString()), due: pick("", "2026-01-31", "2025-12-01")}
		if r.IntN(3) > 0 {
			p := int64(r.IntN(6))
			row.priority = &p
		}
		if r.IntN(3) > 0 {
			v := r.IntN(2) == 0
			row.pinned = &v
		}
		rows[i] = row
	}
	return rows
}

func TestFilterListsExactlyWhatDecisionsAllow(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, postgrestest.NewDatabase(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE rows (id uuid PRIMARY KEY, owner_id uuid, status text NOT NULL,
		name text NOT NULL, priority bigint, pinned boolean, due date)`)
	require.NoError(t, err)

	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	subject := viewer().Subject.ID
	rows := randomRows(r, subject, 60)
	for _, row := range rows {
		_, err := conn.Exec(ctx, `INSERT INTO rows VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			row.id, nullable(row.owner), row.status, row.name, row.priority, row.pinned, nullable(row.due))
		require.NoError(t, err)
	}

	e := newEngine(t, opa.Options{Deadline: 5 * time.Second}) // a loaded test machine
	src := &source{sets: map[string]policy.Set{}}
	fallbacks := 0
	for i := range 300 {
		rego := randomPolicy(r)
		tenant := fmt.Sprintf("t%d", i)
		src.sets[tenant] = set(1, rego)
		in := viewer()
		in.Tenant.ID = tenant
		if r.IntN(3) == 0 {
			in.Action = "projects.project.delete" // not held: only tenant allows grant it
		}
		f, err := e.Filter(ctx, tenant, src, in, propColumns, 1)
		require.NoError(t, err, rego)
		if f.Fallback {
			fallbacks++
		}
		listed := map[string]bool{}
		got, err := conn.Query(ctx, "SELECT id::text FROM rows WHERE $1::int = 1 AND "+f.SQL, append([]any{1}, f.Params...)...)
		require.NoError(t, err, "%s\n%s", rego, f.SQL)
		ids, err := pgx.CollectRows(got, pgx.RowTo[string])
		require.NoError(t, err, "%s\n%s", rego, f.SQL)
		for _, id := range ids {
			listed[id] = true
		}
		for _, row := range rows {
			rin := in
			rin.Resource = row.resource()
			d, err := e.Evaluate(ctx, tenant, src, rin, false)
			require.NoError(t, err)
			shown := listed[row.id]
			if f.Fallback && shown {
				shown = d.Allow // the host decides each row the SQL lets through
			}
			require.Equal(t, d.Allow, shown, "policy:\n%s\nsql: %s %v\nrow: %+v", rego, f.SQL, f.Params, row)
		}
	}
	t.Logf("%d of 300 policies fell back", fallbacks)
}
