package pluginhost

import (
	"errors"
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Column and constraint definitions in plugin migrations.

// tableElement checks an item of CREATE TABLE's list: a column, a table
// constraint, or LIKE one of the plugin's tables.
func (c *checker) tableElement(n *pg_query.Node) error {
	switch e := n.GetNode().(type) {
	case *pg_query.Node_ColumnDef:
		return c.column(e.ColumnDef)
	case *pg_query.Node_Constraint:
		return c.constraint(e.Constraint)
	case *pg_query.Node_TableLikeClause:
		return c.ownRelation("table", e.TableLikeClause.Relation)
	}
	return fmt.Errorf("%s is not allowed in a table definition", nodeName(n))
}

// column checks a column definition: its type, default, collation and
// constraints. ALTER COLUMN ... TYPE gives the USING expression as the
// default.
func (c *checker) column(cd *pg_query.ColumnDef) error {
	switch {
	case cd.Compression != "" || cd.StorageName != "" || cd.Storage != "":
		return errors.New("column COMPRESSION and STORAGE are not allowed")
	case len(cd.Fdwoptions) > 0:
		return errors.New("column OPTIONS are not allowed")
	}
	if cd.TypeName != nil { // ALTER COLUMN ... TYPE always has one; ADD COLUMN too
		if err := c.typeName(cd.TypeName, true); err != nil {
			return err
		}
	}
	if err := c.collation(cd.CollClause); err != nil {
		return err
	}
	if err := c.expr(cd.RawDefault, nil); err != nil {
		return err
	}
	for _, n := range cd.Constraints {
		con := n.GetConstraint()
		if con == nil {
			return fmt.Errorf("%s is not allowed as a column constraint", nodeName(n))
		}
		if err := c.constraint(con); err != nil {
			return err
		}
	}
	return nil
}

// constraint checks a table, column or domain constraint. Primary keys,
// unique and exclusion constraints create an index named after the
// constraint, so a name given must be the plugin's; a foreign key refers
// only to the plugin's own tables.
func (c *checker) constraint(con *pg_query.Constraint) error {
	switch con.Contype {
	case pg_query.ConstrType_CONSTR_NULL, pg_query.ConstrType_CONSTR_NOTNULL,
		pg_query.ConstrType_CONSTR_ATTR_DEFERRABLE, pg_query.ConstrType_CONSTR_ATTR_NOT_DEFERRABLE,
		pg_query.ConstrType_CONSTR_ATTR_DEFERRED, pg_query.ConstrType_CONSTR_ATTR_IMMEDIATE:
		return nil
	case pg_query.ConstrType_CONSTR_DEFAULT, pg_query.ConstrType_CONSTR_CHECK, pg_query.ConstrType_CONSTR_GENERATED:
		return c.expr(con.RawExpr, nil)
	case pg_query.ConstrType_CONSTR_IDENTITY:
		return c.sequenceOptions(con.Options)
	case pg_query.ConstrType_CONSTR_PRIMARY, pg_query.ConstrType_CONSTR_UNIQUE, pg_query.ConstrType_CONSTR_EXCLUSION:
		switch {
		case len(con.Options) > 0:
			return errors.New("index storage parameters (WITH (...)) are not allowed")
		case con.Indexspace != "":
			return errors.New("USING INDEX TABLESPACE is not allowed")
		case con.AccessMethod != "" && !indexMethodSet[con.AccessMethod]:
			return fmt.Errorf("index method %s is not allowed", con.AccessMethod)
		}
		if err := c.ownName("constraint", con.Conname); err != nil {
			return err
		}
		if err := c.ownName("index", con.Indexname); err != nil {
			return err
		}
		for _, ex := range con.Exclusions { // (element, operators) pairs
			pair := ex.GetList()
			if pair == nil || len(pair.Items) != 2 || pair.Items[1].GetList() == nil {
				return fmt.Errorf("%s is not allowed in EXCLUDE", nodeName(ex))
			}
			if err := operator(pair.Items[1].GetList().Items); err != nil {
				return err
			}
			if err := c.expr(pair.Items[0], nil); err != nil {
				return err
			}
		}
		return c.expr(con.WhereClause, nil)
	case pg_query.ConstrType_CONSTR_FOREIGN:
		return c.ownRelation("table", con.Pktable)
	}
	return fmt.Errorf("constraint %s is not allowed", con.Contype)
}

// sequenceOptions checks the options of a sequence or an identity column:
// numbers, a type, and an owner or name that is the plugin's.
func (c *checker) sequenceOptions(options []*pg_query.Node) error {
	for _, n := range options {
		d := n.GetDefElem()
		if d == nil {
			return fmt.Errorf("%s is not allowed as a sequence option", nodeName(n))
		}
		switch d.Defname {
		case "increment", "minvalue", "maxvalue", "start", "restart", "cache", "cycle", "generated":
			switch d.Arg.GetNode().(type) {
			case nil, *pg_query.Node_Integer, *pg_query.Node_Float, *pg_query.Node_Boolean:
				continue
			}
		case "as":
			if err := c.typeName(d.Arg.GetTypeName(), false); err != nil {
				return err
			}
			continue
		case "owned_by", "sequence_name":
			names, err := strs(d.Arg.GetList().GetItems())
			switch {
			case err != nil || len(names) == 0:
			case d.Defname == "owned_by" && len(names) == 1 && names[0] == "none":
				continue
			case d.Defname == "owned_by" && len(names) == 2:
				if err := c.own("table", names[0]); err != nil {
					return err
				}
				continue
			case d.Defname == "sequence_name" && len(names) == 1:
				if err := c.own("sequence", names[0]); err != nil {
					return err
				}
				continue
			}
		}
		return fmt.Errorf("sequence option %s is not allowed here", d.Defname)
	}
	return nil
}
