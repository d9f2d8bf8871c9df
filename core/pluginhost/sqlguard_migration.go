package pluginhost

import (
	"errors"
	"fmt"
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// migrationStmt checks one statement of a plugin's migration. Every name
// is unqualified and every object it creates is the plugin's own; PostgreSQL
// refuses the rest to the plugin's role (it owns nothing else), and this
// check refuses what a plugin never needs: functions, triggers, rules,
// policies, privileges, ownership, the session.
func (c *checker) migrationStmt(raw *pg_query.RawStmt) error {
	switch s := raw.Stmt.GetNode().(type) {
	case *pg_query.Node_SelectStmt, *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt:
		return c.statement(raw.Stmt, nil)
	case *pg_query.Node_CreateStmt:
		return c.createTable(s.CreateStmt)
	case *pg_query.Node_IndexStmt:
		return c.createIndex(s.IndexStmt)
	case *pg_query.Node_ViewStmt:
		return c.createView(s.ViewStmt)
	case *pg_query.Node_CreateSeqStmt:
		return c.sequence(s.CreateSeqStmt.Sequence, s.CreateSeqStmt.Options)
	case *pg_query.Node_AlterSeqStmt:
		return c.sequence(s.AlterSeqStmt.Sequence, s.AlterSeqStmt.Options)
	case *pg_query.Node_CompositeTypeStmt:
		if err := c.ownRelation("type", s.CompositeTypeStmt.Typevar); err != nil {
			return err
		}
		return c.recordColumns(s.CompositeTypeStmt.Coldeflist)
	case *pg_query.Node_CreateEnumStmt:
		return c.ownNames("type", s.CreateEnumStmt.TypeName)
	case *pg_query.Node_AlterEnumStmt: // ADD VALUE, RENAME VALUE
		return c.ownNames("type", s.AlterEnumStmt.TypeName)
	case *pg_query.Node_CreateDomainStmt:
		return c.createDomain(s.CreateDomainStmt)
	case *pg_query.Node_AlterDomainStmt:
		return c.alterDomain(s.AlterDomainStmt)
	case *pg_query.Node_AlterTableStmt:
		return c.alterTable(s.AlterTableStmt)
	case *pg_query.Node_RenameStmt:
		return c.rename(s.RenameStmt)
	case *pg_query.Node_DropStmt:
		return c.drop(s.DropStmt)
	case *pg_query.Node_CommentStmt:
		return c.comment(s.CommentStmt)
	}
	return fmt.Errorf("%q: plugin migrations create, alter, rename, drop and comment on the plugin's own tables, indexes, views, sequences and types, and seed them",
		leadingTokens(c.stmtText(raw), 4)+" ...")
}

// stmtText is raw's text in the file.
func (c *checker) stmtText(raw *pg_query.RawStmt) string {
	start, end := int(raw.StmtLocation), len(c.sql)
	if raw.StmtLen > 0 {
		end = start + int(raw.StmtLen)
	}
	if start < 0 || start > end || end > len(c.sql) {
		return c.sql
	}
	return c.sql[start:end]
}

// ownRelation checks an unqualified relation (or composite type) of the
// plugin's.
func (c *checker) ownRelation(what string, rv *pg_query.RangeVar) error {
	if rv == nil {
		return fmt.Errorf("a statement without its %s", what)
	}
	if err := unqualified(rv); err != nil {
		return err
	}
	if rv.Relpersistence == "t" {
		return fmt.Errorf("temporary %s %s is not allowed", what, rv.Relname)
	}
	return c.own(what, rv.Relname)
}

// ownNames checks a name given as a list (types, domains): unqualified and
// the plugin's.
func (c *checker) ownNames(what string, names []*pg_query.Node) error {
	s, err := strs(names)
	if err != nil || len(s) != 1 {
		return fmt.Errorf("%s %s is qualified: plugins name their own objects, unqualified", what, displayName(names))
	}
	return c.own(what, s[0])
}

// ownName checks a name the statement gives an object (an index, a
// constraint backed by an index); empty lets PostgreSQL name it after its
// table, which is the plugin's.
func (c *checker) ownName(what, name string) error {
	if name == "" {
		return nil
	}
	return c.own(what, name)
}

func (c *checker) createTable(s *pg_query.CreateStmt) error {
	switch {
	case len(s.Options) > 0:
		return errors.New("storage parameters (WITH (...)) are not allowed")
	case s.Tablespacename != "":
		return errors.New("TABLESPACE is not allowed")
	case s.AccessMethod != "":
		return errors.New("USING an access method is not allowed")
	case s.Oncommit != pg_query.OnCommitAction_ONCOMMIT_NOOP:
		return errors.New("ON COMMIT is not allowed")
	}
	if err := c.ownRelation("table", s.Relation); err != nil {
		return err
	}
	for _, n := range s.InhRelations { // INHERITS, PARTITION OF
		if err := c.ownRelation("table", n.GetRangeVar()); err != nil {
			return err
		}
	}
	if s.OfTypename != nil {
		if err := c.ownNames("type", s.OfTypename.Names); err != nil {
			return err
		}
	}
	if b := s.Partbound; b != nil {
		for _, l := range [][]*pg_query.Node{b.Listdatums, b.Lowerdatums, b.Upperdatums} {
			if err := c.exprs(l, nil); err != nil {
				return err
			}
		}
	}
	if ps := s.Partspec; ps != nil {
		for _, n := range ps.PartParams {
			pe := n.GetPartitionElem()
			if pe == nil {
				return fmt.Errorf("%s is not allowed in PARTITION BY", nodeName(n))
			}
			if err := c.indexElem(&pg_query.IndexElem{Expr: pe.Expr, Collation: pe.Collation, Opclass: pe.Opclass}, nil); err != nil {
				return err
			}
		}
	}
	for _, n := range append(slices.Clip(s.TableElts), s.Constraints...) {
		if err := c.tableElement(n); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) createIndex(s *pg_query.IndexStmt) error {
	switch {
	case s.Concurrent:
		return errors.New("CREATE INDEX CONCURRENTLY is not allowed: migrations run in a transaction")
	case len(s.Options) > 0:
		return errors.New("index storage parameters (WITH (...)) are not allowed")
	case s.TableSpace != "":
		return errors.New("TABLESPACE is not allowed")
	case !indexMethodSet[s.AccessMethod]:
		return fmt.Errorf("index method %s is not allowed", s.AccessMethod)
	case len(s.ExcludeOpNames) > 0:
		return errors.New("exclusion operators are not allowed here")
	}
	if err := c.ownName("index", s.Idxname); err != nil {
		return err
	}
	if err := c.ownRelation("table", s.Relation); err != nil {
		return err
	}
	if err := c.exprs(s.IndexParams, nil); err != nil {
		return err
	}
	if err := c.exprs(s.IndexIncludingParams, nil); err != nil {
		return err
	}
	return c.expr(s.WhereClause, nil)
}

// createView checks a view of the plugin's, whose query follows the rules
// of run-time SQL (it runs with the rights of its owner, the plugin).
func (c *checker) createView(s *pg_query.ViewStmt) error {
	if len(s.Options) > 0 {
		return errors.New("view options (WITH (...)) are not allowed")
	}
	if err := c.ownRelation("view", s.View); err != nil {
		return err
	}
	return c.query(s.Query, nil)
}

func (c *checker) sequence(rv *pg_query.RangeVar, options []*pg_query.Node) error {
	if err := c.ownRelation("sequence", rv); err != nil {
		return err
	}
	return c.sequenceOptions(options)
}

func (c *checker) createDomain(s *pg_query.CreateDomainStmt) error {
	if err := c.ownNames("domain", s.Domainname); err != nil {
		return err
	}
	if err := c.typeName(s.TypeName, false); err != nil {
		return err
	}
	if err := c.collation(s.CollClause); err != nil {
		return err
	}
	for _, n := range s.Constraints {
		con := n.GetConstraint()
		if con == nil {
			return fmt.Errorf("%s is not allowed as a domain constraint", nodeName(n))
		}
		if err := c.constraint(con); err != nil {
			return err
		}
	}
	return nil
}
