package postgres

import (
	"github.com/atriumhq/atrium/core/spec"
	"github.com/atriumhq/atrium/internal/listquery"
)

// SpecClause is a query specification in SQL, to append to a repository's
// SELECT:
//
//	c, err := postgres.SpecSQL(s, taskFields, "tasks", 1)
//	rows, err := tx.Query(ctx, `SELECT ... FROM tasks WHERE project_id = $1 AND `+
//		c.Where+` `+c.OrderLimit, append([]any{projectID}, c.Args...)...)
//
// then spec.Paginate on the scanned rows.
type SpecClause = listquery.Clause

// SpecSQL translates s into SQL with the list engine that plugins' lists use
// too (listquery.SQL): names come only from the allow-list f, quoted and
// qualified by table (when not empty); every value is a placeholder numbered
// from argOffset+1. An error means domain code built s wrongly (see
// spec.Spec.Normalize).
func SpecSQL(s spec.Spec, f spec.Fields, table string, argOffset int) (SpecClause, error) {
	return listquery.SQL(s, f, table, argOffset)
}
