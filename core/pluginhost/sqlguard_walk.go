package pluginhost

import (
	"errors"
	"fmt"
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// checker walks the parse tree of one plugin's SQL.
type checker struct {
	plugin string
	sql    string // the parsed text: node locations index it
}

// scope is the common table expressions visible where a relation is named:
// a WITH's names reach its statement and everything nested in it, not the
// statement's siblings.
type scope struct {
	names  []string
	parent *scope
}

func (s *scope) visible(name string) bool {
	for ; s != nil; s = s.parent {
		if slices.Contains(s.names, name) {
			return true
		}
	}
	return false
}

// statement checks a data statement: the top level, a WITH query or a view.
func (c *checker) statement(n *pg_query.Node, sc *scope) error {
	switch s := n.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		return c.selectStmt(s.SelectStmt, sc)
	case *pg_query.Node_InsertStmt:
		return c.insert(s.InsertStmt, sc)
	case *pg_query.Node_UpdateStmt:
		return c.update(s.UpdateStmt, sc)
	case *pg_query.Node_DeleteStmt:
		return c.delete(s.DeleteStmt, sc)
	}
	return fmt.Errorf("%s is not a statement plugins may run", nodeName(n))
}

// query checks a subquery, which the grammar makes a SELECT.
func (c *checker) query(n *pg_query.Node, sc *scope) error {
	s, ok := n.GetNode().(*pg_query.Node_SelectStmt)
	if !ok {
		return fmt.Errorf("%s is not allowed as a subquery", nodeName(n))
	}
	return c.selectStmt(s.SelectStmt, sc)
}

func (c *checker) selectStmt(s *pg_query.SelectStmt, sc *scope) error {
	if s == nil {
		return nil
	}
	if s.IntoClause != nil {
		return errors.New("SELECT ... INTO is not allowed: it creates a table")
	}
	sc, err := c.with(s.WithClause, sc)
	if err != nil {
		return err
	}
	if s.Op != pg_query.SetOperation_SETOP_NONE {
		if err := c.selectStmt(s.Larg, sc); err != nil {
			return err
		}
		if err := c.selectStmt(s.Rarg, sc); err != nil {
			return err
		}
	}
	if err := c.from(s.FromClause, sc); err != nil {
		return err
	}
	for _, l := range [][]*pg_query.Node{s.DistinctClause, s.TargetList, s.GroupClause, s.WindowClause, s.ValuesLists, s.SortClause} {
		if err := c.exprs(l, sc); err != nil {
			return err
		}
	}
	for _, e := range []*pg_query.Node{s.WhereClause, s.HavingClause, s.LimitOffset, s.LimitCount} {
		if err := c.expr(e, sc); err != nil {
			return err
		}
	}
	for _, l := range s.LockingClause {
		lc := l.GetLockingClause()
		if lc == nil {
			return fmt.Errorf("%s is not allowed as a locking clause", nodeName(l))
		}
		for _, rel := range lc.LockedRels {
			rv := rel.GetRangeVar()
			if rv == nil {
				return fmt.Errorf("%s is not allowed in FOR UPDATE OF", nodeName(rel))
			}
			if err := c.relation(rv, sc); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *checker) insert(s *pg_query.InsertStmt, sc *scope) error {
	sc, err := c.with(s.WithClause, sc)
	if err != nil {
		return err
	}
	if err := c.target(s.Relation); err != nil {
		return err
	}
	if s.SelectStmt != nil {
		if err := c.query(s.SelectStmt, sc); err != nil {
			return err
		}
	}
	if oc := s.OnConflictClause; oc != nil {
		if inf := oc.Infer; inf != nil {
			if err := c.exprs(inf.IndexElems, sc); err != nil {
				return err
			}
			if err := c.expr(inf.WhereClause, sc); err != nil {
				return err
			}
		}
		if err := c.exprs(oc.TargetList, sc); err != nil {
			return err
		}
		if err := c.expr(oc.WhereClause, sc); err != nil {
			return err
		}
	}
	if err := c.exprs(s.Cols, sc); err != nil {
		return err
	}
	return c.exprs(s.ReturningList, sc)
}

func (c *checker) update(s *pg_query.UpdateStmt, sc *scope) error {
	sc, err := c.with(s.WithClause, sc)
	if err != nil {
		return err
	}
	if err := c.target(s.Relation); err != nil {
		return err
	}
	if err := c.from(s.FromClause, sc); err != nil {
		return err
	}
	if err := c.exprs(s.TargetList, sc); err != nil {
		return err
	}
	if err := c.expr(s.WhereClause, sc); err != nil {
		return err
	}
	return c.exprs(s.ReturningList, sc)
}

func (c *checker) delete(s *pg_query.DeleteStmt, sc *scope) error {
	sc, err := c.with(s.WithClause, sc)
	if err != nil {
		return err
	}
	if err := c.target(s.Relation); err != nil {
		return err
	}
	if err := c.from(s.UsingClause, sc); err != nil {
		return err
	}
	if err := c.expr(s.WhereClause, sc); err != nil {
		return err
	}
	return c.exprs(s.ReturningList, sc)
}

// with checks a WITH clause's queries and returns the scope its statement
// sees. Without RECURSIVE a query sees the ones before it; with RECURSIVE
// every query sees all of them, itself included.
func (c *checker) with(w *pg_query.WithClause, sc *scope) (*scope, error) {
	if w == nil {
		return sc, nil
	}
	ctes := make([]*pg_query.CommonTableExpr, len(w.Ctes))
	for i, n := range w.Ctes {
		if ctes[i] = n.GetCommonTableExpr(); ctes[i] == nil {
			return nil, fmt.Errorf("%s is not allowed in WITH", nodeName(n))
		}
	}
	if w.Recursive {
		all := &scope{parent: sc}
		for _, cte := range ctes {
			all.names = append(all.names, cte.Ctename)
		}
		sc = all
	}
	for _, cte := range ctes {
		if cte.SearchClause != nil || cte.CycleClause != nil {
			return nil, errors.New("SEARCH and CYCLE clauses are not allowed")
		}
		if err := c.statement(cte.Ctequery, sc); err != nil {
			return nil, err
		}
		if !w.Recursive {
			sc = &scope{names: []string{cte.Ctename}, parent: sc}
		}
	}
	return sc, nil
}

// from checks FROM (and USING) items.
func (c *checker) from(items []*pg_query.Node, sc *scope) error {
	for _, n := range items {
		if err := c.fromItem(n, sc); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) fromItem(n *pg_query.Node, sc *scope) error {
	switch f := n.GetNode().(type) {
	case *pg_query.Node_RangeVar:
		return c.relation(f.RangeVar, sc)
	case *pg_query.Node_JoinExpr:
		j := f.JoinExpr
		if err := c.fromItem(j.Larg, sc); err != nil {
			return err
		}
		if err := c.fromItem(j.Rarg, sc); err != nil {
			return err
		}
		if err := c.exprs(j.UsingClause, sc); err != nil {
			return err
		}
		return c.expr(j.Quals, sc)
	case *pg_query.Node_RangeSubselect:
		return c.query(f.RangeSubselect.Subquery, sc)
	case *pg_query.Node_RangeFunction:
		return c.rangeFunction(f.RangeFunction, sc)
	}
	return fmt.Errorf("%s is not allowed in FROM", nodeName(n))
}

// rangeFunction checks a function in FROM, ROWS FROM (...) included: each
// item is the call and its optional column definitions.
func (c *checker) rangeFunction(rf *pg_query.RangeFunction, sc *scope) error {
	for _, item := range rf.Functions {
		l := item.GetList()
		if l == nil || len(l.Items) == 0 || len(l.Items) > 2 {
			return fmt.Errorf("%s is not allowed in FROM", nodeName(item))
		}
		if err := c.expr(l.Items[0], sc); err != nil {
			return err
		}
		if len(l.Items) == 2 && l.Items[1].GetNode() != nil {
			defs := l.Items[1].GetList()
			if defs == nil {
				return fmt.Errorf("%s is not allowed as column definitions", nodeName(l.Items[1]))
			}
			if err := c.recordColumns(defs.Items); err != nil {
				return err
			}
		}
	}
	return c.recordColumns(rf.Coldeflist)
}

// recordColumns checks the column definitions of a function returning
// records (AS (a int, b text)), which name only a column and its type.
func (c *checker) recordColumns(defs []*pg_query.Node) error {
	for _, n := range defs {
		cd := n.GetColumnDef()
		if cd == nil || cd.RawDefault != nil || len(cd.Constraints) > 0 || len(cd.Fdwoptions) > 0 {
			return fmt.Errorf("%s is not allowed as a column definition", nodeName(n))
		}
		if err := c.collation(cd.CollClause); err != nil {
			return err
		}
		if err := c.typeName(cd.TypeName, false); err != nil {
			return err
		}
	}
	return nil
}
