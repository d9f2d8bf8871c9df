package pluginhost

import (
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// alterTable checks ALTER TABLE, INDEX, SEQUENCE, VIEW and TYPE (a
// composite's attributes) on the plugin's own objects, with an allow-list
// of subcommands: columns, constraints, identity, and partitions that are
// the plugin's. Ownership, schema, tablespace, triggers, rules, row level
// security, replica identity, access method, CLUSTER ON and storage
// options are refused.
func (c *checker) alterTable(s *pg_query.AlterTableStmt) error {
	what := strings.ToLower(strings.TrimPrefix(s.Objtype.String(), "OBJECT_"))
	switch s.Objtype {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_INDEX, pg_query.ObjectType_OBJECT_SEQUENCE,
		pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_TYPE:
	default:
		return fmt.Errorf("ALTER %s is not allowed", strings.ToUpper(what))
	}
	if err := c.ownRelation(what, s.Relation); err != nil {
		return err
	}
	for _, n := range s.Cmds {
		cmd := n.GetAlterTableCmd()
		if cmd == nil {
			return fmt.Errorf("%s is not allowed in ALTER %s", nodeName(n), strings.ToUpper(what))
		}
		if err := c.alterTableCmd(cmd); err != nil {
			return err
		}
	}
	return nil
}

// alterTableCmd checks one subcommand of ALTER TABLE (and its kin).
func (c *checker) alterTableCmd(cmd *pg_query.AlterTableCmd) error {
	switch cmd.Subtype {
	case pg_query.AlterTableType_AT_DropNotNull, pg_query.AlterTableType_AT_SetNotNull,
		pg_query.AlterTableType_AT_DropColumn, pg_query.AlterTableType_AT_ValidateConstraint,
		pg_query.AlterTableType_AT_DropConstraint, pg_query.AlterTableType_AT_DropIdentity:
		if cmd.Def != nil {
			return fmt.Errorf("%s with a definition is not allowed", subcommand(cmd))
		}
		return nil
	case pg_query.AlterTableType_AT_ColumnDefault: // SET DEFAULT expr, DROP DEFAULT
		return c.expr(cmd.Def, nil)
	case pg_query.AlterTableType_AT_AddColumn, pg_query.AlterTableType_AT_AlterColumnType:
		cd := cmd.Def.GetColumnDef()
		if cd == nil {
			return fmt.Errorf("%s without a column definition is not allowed", subcommand(cmd))
		}
		return c.column(cd)
	case pg_query.AlterTableType_AT_AddConstraint, pg_query.AlterTableType_AT_AddIdentity:
		con := cmd.Def.GetConstraint()
		if con == nil {
			return fmt.Errorf("%s without a constraint is not allowed", subcommand(cmd))
		}
		return c.constraint(con)
	case pg_query.AlterTableType_AT_SetIdentity:
		l := cmd.Def.GetList()
		if l == nil {
			return fmt.Errorf("%s without options is not allowed", subcommand(cmd))
		}
		return c.sequenceOptions(l.Items)
	case pg_query.AlterTableType_AT_AttachPartition, pg_query.AlterTableType_AT_DetachPartition:
		pc := cmd.Def.GetPartitionCmd()
		if pc == nil || pc.Concurrent {
			return fmt.Errorf("%s is not allowed here", subcommand(cmd))
		}
		if err := c.ownRelation("table", pc.Name); err != nil {
			return err
		}
		if b := pc.Bound; b != nil {
			for _, l := range [][]*pg_query.Node{b.Listdatums, b.Lowerdatums, b.Upperdatums} {
				if err := c.exprs(l, nil); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return fmt.Errorf("%s is not allowed in plugin migrations", subcommand(cmd))
}

func subcommand(cmd *pg_query.AlterTableCmd) string {
	return "ALTER subcommand " + strings.TrimPrefix(cmd.Subtype.String(), "AT_")
}

// alterDomain checks ALTER DOMAIN on the plugin's own: its default, NOT
// NULL, and CHECK constraints.
func (c *checker) alterDomain(s *pg_query.AlterDomainStmt) error {
	if err := c.ownNames("domain", s.TypeName); err != nil {
		return err
	}
	switch s.Subtype {
	case "T": // SET DEFAULT, DROP DEFAULT
		return c.expr(s.Def, nil)
	case "N", "O", "X", "V": // DROP/SET NOT NULL, DROP/VALIDATE CONSTRAINT
		return nil
	case "C": // ADD CONSTRAINT
		con := s.Def.GetConstraint()
		if con == nil || con.Contype != pg_query.ConstrType_CONSTR_CHECK && con.Contype != pg_query.ConstrType_CONSTR_NOTNULL {
			return errors.New("ALTER DOMAIN ADD takes a CHECK or NOT NULL constraint")
		}
		return c.constraint(con)
	}
	return fmt.Errorf("ALTER DOMAIN subcommand %q is not allowed", s.Subtype)
}

// rename checks RENAME. The new name of a table, index, sequence, view,
// type or domain must be the plugin's; the old one may be any unqualified
// name, because PostgreSQL refuses to rename what the plugin's role does
// not own, and a plugin must be able to move a table of its own from
// before the naming rule into its namespace. Columns and constraints are
// renamed only on the plugin's own relations, and a constraint's new name
// (an index's, for keys) must be the plugin's too.
func (c *checker) rename(s *pg_query.RenameStmt) error {
	switch s.RenameType {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_INDEX, pg_query.ObjectType_OBJECT_SEQUENCE,
		pg_query.ObjectType_OBJECT_VIEW:
		if s.Relation == nil {
			return errors.New("RENAME without its relation")
		}
		if err := unqualified(s.Relation); err != nil {
			return err
		}
		return c.own("new name", s.Newname)
	case pg_query.ObjectType_OBJECT_TYPE, pg_query.ObjectType_OBJECT_DOMAIN:
		if names, err := strs(s.Object.GetList().GetItems()); err != nil || len(names) != 1 {
			return fmt.Errorf("RENAME of a qualified or malformed %s name is not allowed", strings.ToLower(strings.TrimPrefix(s.RenameType.String(), "OBJECT_")))
		}
		return c.own("new name", s.Newname)
	case pg_query.ObjectType_OBJECT_COLUMN, pg_query.ObjectType_OBJECT_ATTRIBUTE:
		return c.ownRelation("relation", s.Relation)
	case pg_query.ObjectType_OBJECT_TABCONSTRAINT:
		if err := c.ownRelation("table", s.Relation); err != nil {
			return err
		}
		return c.own("new constraint name", s.Newname)
	case pg_query.ObjectType_OBJECT_DOMCONSTRAINT:
		return c.ownNames("domain", s.Object.GetList().GetItems())
	}
	return fmt.Errorf("RENAME of %s is not allowed", strings.TrimPrefix(s.RenameType.String(), "OBJECT_"))
}

// drop checks DROP of the plugin's own tables, indexes, views, sequences,
// types and domains. CASCADE is allowed: what depends on the plugin's
// objects is the plugin's too.
func (c *checker) drop(s *pg_query.DropStmt) error {
	if s.Concurrent {
		return errors.New("DROP INDEX CONCURRENTLY is not allowed: migrations run in a transaction")
	}
	var what string
	switch s.RemoveType {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_INDEX, pg_query.ObjectType_OBJECT_VIEW,
		pg_query.ObjectType_OBJECT_SEQUENCE:
		what = "relation"
	case pg_query.ObjectType_OBJECT_TYPE, pg_query.ObjectType_OBJECT_DOMAIN:
		what = "type"
	default:
		return fmt.Errorf("DROP %s is not allowed", strings.TrimPrefix(s.RemoveType.String(), "OBJECT_"))
	}
	for _, n := range s.Objects {
		if err := c.ownObject(what, n); err != nil {
			return err
		}
	}
	return nil
}

// ownObject checks an object named in DROP or COMMENT: a list of names for
// a relation, a TypeName for a type or domain.
func (c *checker) ownObject(what string, n *pg_query.Node) error {
	switch o := n.GetNode().(type) {
	case *pg_query.Node_List:
		return c.ownNames(what, o.List.Items)
	case *pg_query.Node_TypeName:
		return c.ownNames(what, o.TypeName.Names)
	}
	return fmt.Errorf("%s is not allowed as an object name", nodeName(n))
}

// comment checks COMMENT ON the plugin's own objects, their columns and
// constraints.
func (c *checker) comment(s *pg_query.CommentStmt) error {
	switch s.Objtype {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_INDEX, pg_query.ObjectType_OBJECT_VIEW,
		pg_query.ObjectType_OBJECT_SEQUENCE, pg_query.ObjectType_OBJECT_TYPE, pg_query.ObjectType_OBJECT_DOMAIN:
		return c.ownObject("object", s.Object)
	case pg_query.ObjectType_OBJECT_COLUMN, pg_query.ObjectType_OBJECT_TABCONSTRAINT, pg_query.ObjectType_OBJECT_DOMCONSTRAINT:
		// (relation, column or constraint): a longer list is qualified.
		items := s.Object.GetList().GetItems()
		if len(items) != 2 {
			return errors.New("COMMENT ON a qualified or malformed name is not allowed")
		}
		if items[0].GetString_() != nil {
			return c.ownNames("object", items[:1])
		}
		return c.ownObject("object", items[0]) // a domain's TypeName
	}
	return fmt.Errorf("COMMENT ON %s is not allowed", strings.TrimPrefix(s.Objtype.String(), "OBJECT_"))
}
