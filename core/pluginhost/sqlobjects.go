package pluginhost

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// MigrationObjects lists the relations and types a plugin migration creates
// or renames (both the old and the new name), by name. A tenant that enabled
// the plugin before plugins had roles of their own has these objects owned
// by the tenant's role; the upgrade hands them to the plugin's owner role.
// SQL that does not parse names nothing.
func MigrationObjects(sql string) []string {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil
	}
	var names []string
	add := func(rv *pg_query.RangeVar) {
		if rv != nil && rv.Relname != "" {
			names = append(names, rv.Relname)
		}
	}
	last := func(nodes []*pg_query.Node) {
		if len(nodes) > 0 {
			if s := nodes[len(nodes)-1].GetString_(); s != nil {
				names = append(names, s.Sval)
			}
		}
	}
	for _, raw := range tree.Stmts {
		n := raw.GetStmt()
		switch {
		case n.GetCreateStmt() != nil:
			add(n.GetCreateStmt().Relation)
		case n.GetIndexStmt() != nil:
			if s := n.GetIndexStmt(); s.Idxname != "" {
				names = append(names, s.Idxname)
			}
		case n.GetViewStmt() != nil:
			add(n.GetViewStmt().View)
		case n.GetCreateSeqStmt() != nil:
			add(n.GetCreateSeqStmt().Sequence)
		case n.GetCompositeTypeStmt() != nil:
			add(n.GetCompositeTypeStmt().Typevar)
		case n.GetCreateEnumStmt() != nil:
			last(n.GetCreateEnumStmt().TypeName)
		case n.GetCreateDomainStmt() != nil:
			last(n.GetCreateDomainStmt().Domainname)
		case n.GetRenameStmt() != nil && renamesObject(n.GetRenameStmt().RenameType):
			s := n.GetRenameStmt()
			add(s.Relation)
			if s.Object != nil && s.Object.GetList() != nil {
				last(s.Object.GetList().Items)
			}
			if s.Newname != "" {
				names = append(names, s.Newname)
			}
		}
	}
	return names
}

// renamesObject tells a RENAME of a relation or type from one of a column,
// a constraint and the like, whose names live inside their table.
func renamesObject(t pg_query.ObjectType) bool {
	switch t {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_INDEX, pg_query.ObjectType_OBJECT_SEQUENCE,
		pg_query.ObjectType_OBJECT_VIEW, pg_query.ObjectType_OBJECT_TYPE, pg_query.ObjectType_OBJECT_DOMAIN:
		return true
	}
	return false
}
