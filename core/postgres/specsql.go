package postgres

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/atriumhq/atrium/core/spec"
)

// SpecClause is a query specification in SQL, to append to a repository's
// SELECT:
//
//	c, err := postgres.SpecSQL(s, taskFields, "tasks", 1)
//	rows, err := tx.Query(ctx, `SELECT ... FROM tasks WHERE project_id = $1 AND `+
//		c.Where+` `+c.OrderLimit, append([]any{projectID}, c.Args...)...)
//
// then spec.Paginate on the scanned rows.
type SpecClause struct {
	// Where is a boolean expression: the filters AND the keyset condition
	// of the cursor; TRUE when there is neither.
	Where string
	// OrderLimit is "ORDER BY ... LIMIT $n". The limit is one row more than
	// the page size, so the extra row tells whether a next page exists.
	OrderLimit string
	// Args are the values of the placeholders, which start after argOffset.
	Args []any
}

// SpecSQL translates s into SQL. Names come only from the allow-list f,
// quoted and qualified by table (when not empty); every value is a
// placeholder, numbered from argOffset+1 so the clause can follow a query
// that already has argOffset parameters. An error means domain code built s
// wrongly (see spec.Spec.Normalize).
//
// Order: each key ASC or DESC, with NULLS LAST on nullable columns in both
// directions (the spec package's rule), then the tiebreak. Non-null columns
// get no NULLS clause, so a plain B-tree index still serves them.
func SpecSQL(s spec.Spec, f spec.Fields, table string, argOffset int) (SpecClause, error) {
	s, err := s.Normalize(f)
	if err != nil {
		return SpecClause{}, err
	}
	b := specBuilder{table: table, offset: argOffset}
	var where []string
	for _, fl := range s.Filters {
		where = append(where, b.filter(b.key(f, fl.Field), fl))
	}
	keys := make([]sortColumn, 0, len(s.Sort)+1)
	for _, k := range s.Order(f) {
		keys = append(keys, sortColumn{name: b.key(f, k.Field), field: mustLookup(f, k.Field), desc: k.Desc})
	}
	if s.After != nil {
		where = append(where, b.keyset(keys, s.After.Values))
	}
	if len(where) == 0 {
		where = []string{"TRUE"}
	}
	order := make([]string, len(keys))
	for i, k := range keys {
		order[i] = k.name + direction(k.desc)
		if k.field.Nullable {
			order[i] += " NULLS LAST"
		}
	}
	limit := b.arg(s.PageSize() + 1)
	return SpecClause{
		Where:      strings.Join(where, " AND "),
		OrderLimit: "ORDER BY " + strings.Join(order, ", ") + " LIMIT " + limit,
		Args:       b.args,
	}, nil
}

type sortColumn struct {
	name  string // quoted, qualified column
	field spec.Field
	desc  bool
}

type specBuilder struct {
	table  string
	offset int
	args   []any
}

// arg adds a value and returns its placeholder.
func (b *specBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(b.offset+len(b.args))
}

// key returns the quoted column of an API field, which Normalize has
// checked is on the allow-list.
func (b *specBuilder) key(f spec.Fields, name string) string {
	col := mustLookup(f, name).Column
	if b.table == "" {
		return pgx.Identifier{col}.Sanitize()
	}
	return pgx.Identifier{b.table, col}.Sanitize()
}

func (b *specBuilder) filter(col string, fl spec.Filter) string {
	if fl.Op == spec.Eq {
		return col + " = " + b.arg(fl.Values[0])
	}
	ph := make([]string, len(fl.Values))
	for i, v := range fl.Values {
		ph[i] = b.arg(v)
	}
	return col + " IN (" + strings.Join(ph, ", ") + ")"
}

// keyset is the condition "the row sorts strictly after the cursor". When
// every key runs one way over non-null columns it is a row comparison, which
// an index on those columns serves directly. Otherwise it is the expansion
//
//	k1 after v1 OR (k1 = v1 AND k2 after v2) OR ...
//
// where, NULLs being last, "after v" on a nullable column includes NULL,
// "after NULL" is nothing (that term drops out), and "= NULL" is IS NULL.
func (b *specBuilder) keyset(keys []sortColumn, values []any) string {
	ph := make([]string, len(keys))
	uniform := true
	for i, k := range keys {
		if values[i] != nil {
			ph[i] = b.arg(values[i])
		}
		uniform = uniform && !k.field.Nullable && k.desc == keys[0].desc
	}
	if uniform {
		op := comparison(keys[0].desc)
		if len(keys) == 1 {
			return keys[0].name + op + ph[0]
		}
		cols := make([]string, len(keys))
		for i, k := range keys {
			cols[i] = k.name
		}
		return "(" + strings.Join(cols, ", ") + ")" + op + "(" + strings.Join(ph, ", ") + ")"
	}
	var terms []string
	for i, k := range keys {
		if values[i] == nil {
			continue // nothing sorts after NULL
		}
		var conds []string
		for j := range i {
			if values[j] == nil {
				conds = append(conds, keys[j].name+" IS NULL")
			} else {
				conds = append(conds, keys[j].name+" = "+ph[j])
			}
		}
		after := k.name + comparison(k.desc) + ph[i]
		if k.field.Nullable {
			after = "(" + after + " OR " + k.name + " IS NULL)"
		}
		if len(conds) == 0 {
			terms = append(terms, after)
		} else {
			terms = append(terms, "("+strings.Join(append(conds, after), " AND ")+")")
		}
	}
	if len(terms) == 1 {
		return terms[0]
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}

func comparison(desc bool) string {
	if desc {
		return " < "
	}
	return " > "
}

func direction(desc bool) string {
	if desc {
		return " DESC"
	}
	return " ASC"
}

// mustLookup finds a field Normalize has already checked.
func mustLookup(f spec.Fields, name string) spec.Field {
	d, ok := f.Lookup(name)
	if !ok {
		panic("postgres: spec field " + name + " vanished after Normalize")
	}
	return d
}
