package listquery

import (
	"strconv"
	"strings"
)

// Clause is a Spec in SQL, to append to the list's SELECT:
//
//	c, err := listquery.SQL(s, fields, "", 1) // $1 is already taken by the query
//	rows, err := db.Query(ctx, "SELECT ... FROM tasks WHERE project_id = $1 AND "+
//		c.Where+" "+c.OrderLimit, append([]any{projectID}, c.Args...)...)
//
// then Paginate on the scanned rows.
type Clause struct {
	// Where is a boolean expression: the filters AND the cursor's keyset
	// condition AND, for Fields WithResource, the placeholder of the
	// policy's condition (a *PolicyFilter in Args); TRUE when there is none.
	Where string
	// OrderLimit is "ORDER BY ... LIMIT $n". The limit is one row more than
	// the page, so the extra row tells Paginate whether a next page exists.
	OrderLimit string
	// Args are the placeholders' values, numbered from argOffset+1.
	Args []any
}

// SQL translates s into SQL. Names come only from the allow-list, quoted, and
// qualified by table when it is not empty and the column is not qualified
// already; every value is a placeholder numbered from argOffset+1, so the
// clause can follow a query that already has argOffset parameters. An error
// means the caller built s wrongly (see Spec.Normalize).
//
// Order: each key ASC or DESC, NULLS LAST on nullable columns in both
// directions, then the tiebreak. Non-null columns get no NULLS clause, so a
// plain B-tree index serves them.
func SQL(s Spec, f Fields, table string, argOffset int) (Clause, error) {
	s, err := s.Normalize(f)
	if err != nil {
		return Clause{}, err
	}
	b := builder{offset: argOffset}
	column := func(name string) string { return quote(table, f.byName[name].Column) }
	var where []string
	for _, fl := range s.Filters {
		where = append(where, b.filter(column(fl.Field), fl))
	}
	order := s.Order(f)
	keys := make([]sortColumn, len(order))
	for i, k := range order {
		keys[i] = sortColumn{name: column(k.Field), nullable: f.byName[k.Field].Nullable, desc: k.Desc}
	}
	if s.After != nil {
		where = append(where, b.keyset(keys, s.After.Values))
	}
	var policy *PolicyFilter
	if f.resource != nil {
		policy = f.policyFilter(table)
		where = append(where, b.arg(policy))
		policy.Param = b.offset + len(b.args)
	}
	if len(where) == 0 {
		where = []string{"TRUE"}
	}
	terms := make([]string, len(keys))
	for i, k := range keys {
		terms[i] = k.name + direction(k.desc)
		if k.nullable {
			terms[i] += " NULLS LAST"
		}
	}
	limit := b.arg(s.PageSize() + 1)
	if policy != nil {
		policy.Limit = b.offset + len(b.args)
	}
	return Clause{
		Where:      strings.Join(where, " AND "),
		OrderLimit: "ORDER BY " + strings.Join(terms, ", ") + " LIMIT " + limit,
		Args:       b.args,
	}, nil
}

type sortColumn struct {
	name     string // quoted column
	nullable bool
	desc     bool
}

type builder struct {
	offset int
	args   []any
}

// arg adds a value and returns its placeholder.
func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(b.offset+len(b.args))
}

func (b *builder) filter(col string, fl Filter) string {
	if len(fl.Values) == 1 {
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
// "after NULL" is nothing (that term drops out) and "= NULL" is IS NULL.
func (b *builder) keyset(keys []sortColumn, values []any) string {
	ph := make([]string, len(keys))
	uniform := true
	for i, k := range keys {
		if values[i] != nil {
			ph[i] = b.arg(values[i])
		}
		uniform = uniform && !k.nullable && k.desc == keys[0].desc
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
		if k.nullable {
			after = "(" + after + " OR " + k.name + " IS NULL)"
		}
		if len(conds) == 0 {
			terms = append(terms, after)
		} else {
			terms = append(terms, "("+strings.Join(append(conds, after), " AND ")+")")
		}
	}
	switch len(terms) {
	case 0:
		return "FALSE" // unreachable: the tiebreak is never NULL
	case 1:
		return terms[0]
	}
	return "(" + strings.Join(terms, " OR ") + ")"
}

// quote quotes a column NewFields has checked (plain identifiers, nothing
// to escape), qualified by the caller's table unless it is already.
func quote(table, column string) string {
	col := `"` + strings.ReplaceAll(column, ".", `"."`) + `"`
	if table == "" || strings.Contains(column, ".") {
		return col
	}
	return `"` + strings.ReplaceAll(table, `"`, `""`) + `".` + col
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
