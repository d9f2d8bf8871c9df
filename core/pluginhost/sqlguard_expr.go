package pluginhost

import (
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

func (c *checker) exprs(l []*pg_query.Node, sc *scope) error {
	for _, n := range l {
		if err := c.expr(n, sc); err != nil {
			return err
		}
	}
	return nil
}

// expr checks an expression, or one of the clauses that hold expressions
// (target lists, ORDER BY, window definitions, ...). A node it does not
// list is refused.
func (c *checker) expr(n *pg_query.Node, sc *scope) error {
	if n == nil {
		return nil
	}
	switch e := n.Node.(type) {
	case nil, *pg_query.Node_ParamRef, *pg_query.Node_AStar, *pg_query.Node_SetToDefault, *pg_query.Node_String_:
		return nil
	case *pg_query.Node_AConst:
		return c.constant(e.AConst)
	case *pg_query.Node_ColumnRef:
		return columnRef(e.ColumnRef)
	case *pg_query.Node_List:
		return c.exprs(e.List.Items, sc)
	case *pg_query.Node_ResTarget:
		if err := c.exprs(e.ResTarget.Indirection, sc); err != nil {
			return err
		}
		return c.expr(e.ResTarget.Val, sc)
	case *pg_query.Node_AExpr:
		if err := operator(e.AExpr.Name); err != nil {
			return err
		}
		return c.all(sc, e.AExpr.Lexpr, e.AExpr.Rexpr)
	case *pg_query.Node_BoolExpr:
		return c.exprs(e.BoolExpr.Args, sc)
	case *pg_query.Node_NullTest:
		return c.expr(e.NullTest.Arg, sc)
	case *pg_query.Node_BooleanTest:
		return c.expr(e.BooleanTest.Arg, sc)
	case *pg_query.Node_FuncCall:
		return c.funcCall(e.FuncCall, sc)
	case *pg_query.Node_TypeCast:
		if err := c.typeName(e.TypeCast.TypeName, false); err != nil {
			return err
		}
		return c.expr(e.TypeCast.Arg, sc)
	case *pg_query.Node_CollateClause:
		if err := c.collation(e.CollateClause); err != nil {
			return err
		}
		return c.expr(e.CollateClause.Arg, sc)
	case *pg_query.Node_SubLink:
		if err := operator(e.SubLink.OperName); err != nil {
			return err
		}
		if err := c.expr(e.SubLink.Testexpr, sc); err != nil {
			return err
		}
		return c.query(e.SubLink.Subselect, sc)
	case *pg_query.Node_CaseExpr:
		if err := c.all(sc, e.CaseExpr.Arg, e.CaseExpr.Defresult); err != nil {
			return err
		}
		return c.exprs(e.CaseExpr.Args, sc)
	case *pg_query.Node_CaseWhen:
		return c.all(sc, e.CaseWhen.Expr, e.CaseWhen.Result)
	case *pg_query.Node_CoalesceExpr:
		return c.exprs(e.CoalesceExpr.Args, sc)
	case *pg_query.Node_MinMaxExpr: // GREATEST, LEAST
		return c.exprs(e.MinMaxExpr.Args, sc)
	case *pg_query.Node_AArrayExpr:
		return c.exprs(e.AArrayExpr.Elements, sc)
	case *pg_query.Node_AIndirection:
		if err := fields(e.AIndirection.Indirection); err != nil {
			return err
		}
		if err := c.exprs(e.AIndirection.Indirection, sc); err != nil {
			return err
		}
		return c.expr(e.AIndirection.Arg, sc)
	case *pg_query.Node_AIndices:
		return c.all(sc, e.AIndices.Lidx, e.AIndices.Uidx)
	case *pg_query.Node_RowExpr:
		return c.exprs(e.RowExpr.Args, sc)
	case *pg_query.Node_SqlvalueFunction:
		return sqlValueFunction(e.SqlvalueFunction.Op)
	case *pg_query.Node_NamedArgExpr:
		return c.expr(e.NamedArgExpr.Arg, sc)
	case *pg_query.Node_GroupingSet:
		return c.exprs(e.GroupingSet.Content, sc)
	case *pg_query.Node_GroupingFunc:
		return c.exprs(e.GroupingFunc.Args, sc)
	case *pg_query.Node_MultiAssignRef: // UPDATE ... SET (a, b) = (...)
		return c.expr(e.MultiAssignRef.Source, sc)
	case *pg_query.Node_SortBy:
		if err := operator(e.SortBy.UseOp); err != nil {
			return err
		}
		return c.expr(e.SortBy.Node, sc)
	case *pg_query.Node_WindowDef:
		return c.window(e.WindowDef, sc)
	case *pg_query.Node_IndexElem: // ON CONFLICT targets, index columns
		return c.indexElem(e.IndexElem, sc)
	}
	return fmt.Errorf("%s is not allowed in plugin SQL", nodeName(n))
}

// all checks optional expressions.
func (c *checker) all(sc *scope, nodes ...*pg_query.Node) error {
	for _, n := range nodes {
		if err := c.expr(n, sc); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) window(w *pg_query.WindowDef, sc *scope) error {
	if w == nil {
		return nil
	}
	if err := c.exprs(w.PartitionClause, sc); err != nil {
		return err
	}
	if err := c.exprs(w.OrderClause, sc); err != nil {
		return err
	}
	return c.all(sc, w.StartOffset, w.EndOffset)
}

func (c *checker) indexElem(ie *pg_query.IndexElem, sc *scope) error {
	if len(ie.Opclassopts) > 0 {
		return errors.New("operator class options are not allowed")
	}
	if err := catalogNames("collation", ie.Collation); err != nil {
		return err
	}
	if err := catalogNames("operator class", ie.Opclass); err != nil {
		return err
	}
	return c.expr(ie.Expr, sc)
}

// funcCall checks a call, aggregate or window function: its name is
// resolved as PostgreSQL resolves it (unqualified or pg_catalog; quoted
// names keep their case, Unicode escapes are already decoded) and must be
// on the allow-list.
func (c *checker) funcCall(f *pg_query.FuncCall, sc *scope) error {
	name, err := catalogName(f.Funcname)
	if err != nil || !functionSet[name] {
		shown := displayName(f.Funcname)
		if len(f.Funcname) == 1 { // PostgreSQL looks in pg_catalog first
			shown = "pg_catalog." + shown
		}
		return fmt.Errorf("function %s is not one plugins may call", shown)
	}
	if err := c.exprs(f.Args, sc); err != nil {
		return err
	}
	if err := c.exprs(f.AggOrder, sc); err != nil {
		return err
	}
	if err := c.expr(f.AggFilter, sc); err != nil {
		return err
	}
	return c.window(f.Over, sc)
}

// columnRef refuses system columns and the whole-row functions PostgreSQL
// would call for t.f.
func columnRef(cr *pg_query.ColumnRef) error {
	if len(cr.Fields) == 0 {
		return errors.New("a column reference without a name")
	}
	last := cr.Fields[len(cr.Fields)-1:]
	if s := last[0].GetString_(); s != nil && systemColumnSet[s.Sval] {
		return fmt.Errorf("system column %s is not allowed", s.Sval)
	}
	if len(cr.Fields) > 1 {
		return fields(last)
	}
	return nil
}

// fields checks field selections ((row).f, t.f), which PostgreSQL may read
// as a call f(row).
func fields(ind []*pg_query.Node) error {
	for _, n := range ind {
		if s := n.GetString_(); s != nil && (wholeRowSet[s.Sval] || strings.HasPrefix(s.Sval, "pg_")) {
			return fmt.Errorf("field %s is not allowed: PostgreSQL would call function %s on the whole row", quoteIdent(s.Sval), quoteIdent(s.Sval))
		}
	}
	return nil
}

// sqlValueFunction allows the SQL-standard clock values; the others read
// the session (CURRENT_USER, CURRENT_SCHEMA, ...).
func sqlValueFunction(op pg_query.SQLValueFunctionOp) error {
	switch op {
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME,
		pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP,
		pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME,
		pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME_N, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP,
		pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		return nil
	}
	return fmt.Errorf("%s is not allowed: it reads the session", strings.TrimPrefix(op.String(), "SVFOP_"))
}

// constant refuses the numeric literals the server, PostgreSQL 15, reads
// otherwise than this parser (PostgreSQL 17's): 0x1F, 0o17, 0b101 and 1_000
// are numbers here and, there, a number followed by a column alias.
func (c *checker) constant(ac *pg_query.A_Const) error {
	if ac.GetIval() == nil && ac.GetFval() == nil {
		return nil
	}
	i := int(ac.Location)
	if i < 0 || i >= len(c.sql) {
		return nil // made by the grammar, not written
	}
	for i < len(c.sql) && strings.IndexByte("-+( \t\n\r\f\v", c.sql[i]) >= 0 {
		i++ // a negative number starts at its sign: -1, - (1)
	}
	j := i
	for j < len(c.sql) && (isWordByte(c.sql[j]) || c.sql[j] == '.') {
		j++
	}
	tok := c.sql[i:j]
	switch {
	case tok == "":
		return errors.New("a comment between a sign and its number is not allowed")
	case tok[0] != '.' && (tok[0] < '0' || tok[0] > '9'):
		return nil // a keyword the grammar made a number of (INTERVAL ... DAY)
	case strings.ContainsAny(tok, "_xXoObB"):
		return fmt.Errorf("numeric literal %s is not allowed: write numbers in plain decimal", tok)
	}
	return nil
}

func isWordByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b >= 0x80
}
