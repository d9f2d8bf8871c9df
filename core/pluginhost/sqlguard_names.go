package pluginhost

import (
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Names in plugin SQL: relations, types, collations and operators, whose
// they are, and how a refusal writes them.

// relation checks a relation read (or locked): a WITH query in scope, or
// one of the plugin's own, unqualified.
func (c *checker) relation(rv *pg_query.RangeVar, sc *scope) error {
	if err := unqualified(rv); err != nil {
		return err
	}
	if sc.visible(rv.Relname) {
		return nil
	}
	return c.own("relation", rv.Relname)
}

// target checks the relation an INSERT, UPDATE or DELETE writes: always a
// table, never a WITH query, whatever the scope.
func (c *checker) target(rv *pg_query.RangeVar) error {
	if rv == nil {
		return errors.New("a statement without its table")
	}
	if err := unqualified(rv); err != nil {
		return err
	}
	return c.own("relation", rv.Relname)
}

func unqualified(rv *pg_query.RangeVar) error {
	if rv.Catalogname != "" || rv.Schemaname != "" {
		return fmt.Errorf("relation %s is schema-qualified: plugins name their own relations, unqualified",
			qualifiedName(rv.Catalogname, rv.Schemaname, rv.Relname))
	}
	return nil
}

// own refuses a name that is not the plugin's.
func (c *checker) own(what, name string) error {
	if Owns(c.plugin, name) {
		return nil
	}
	return fmt.Errorf("%s %s is not plugin %s's own (its objects are named %s or %s_*); plugins reach core data through the host's services",
		what, quoteIdent(name), c.plugin, c.plugin, c.plugin)
}

// nodeName names a node for a refusal: its syntax where that is clearer
// than pg_query's type name.
func nodeName(n *pg_query.Node) string {
	t := strings.TrimPrefix(fmt.Sprintf("%T", n.GetNode()), "*pg_query.Node_")
	if name, ok := syntaxNames[t]; ok {
		return name
	}
	return t
}

var syntaxNames = map[string]string{
	"<nil>":            "an empty node",
	"CurrentOfExpr":    "WHERE CURRENT OF",
	"MergeStmt":        "MERGE",
	"RangeTableFunc":   "XMLTABLE",
	"RangeTableSample": "TABLESAMPLE",
	"XmlExpr":          "an XML function",
	"XmlSerialize":     "XMLSERIALIZE",
	"JsonTable":        "JSON_TABLE",
}

// quoteIdent writes an identifier as SQL would need it, so a refusal
// shows "LOWER" apart from lower.
func quoteIdent(s string) string {
	plain := s != ""
	for i, c := range []byte(s) {
		if c != '_' && (c < 'a' || c > 'z') && (i == 0 || (c < '0' || c > '9') && c != '$') {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func qualifiedName(parts ...string) string {
	var q []string
	for _, p := range parts {
		if p != "" {
			q = append(q, quoteIdent(p))
		}
	}
	return strings.Join(q, ".")
}

// typeName checks a type: an allow-listed pg_catalog type, or one of the
// plugin's own (a table's row, an enum, a domain); serial types only for a
// column.
func (c *checker) typeName(t *pg_query.TypeName, column bool) error {
	if t == nil {
		return errors.New("a type without a name")
	}
	if t.Setof || t.PctType {
		return errors.New("SETOF and %TYPE are not allowed")
	}
	names, err := strs(t.Names)
	var ok bool
	switch {
	case err != nil:
	case len(names) == 2 && names[0] == "pg_catalog":
		ok = typeSet[names[1]]
	case len(names) == 1:
		n := names[0]
		ok = !lookupTypeSet[n] && (typeSet[n] || column && columnTypeSet[n] || Owns(c.plugin, n))
	}
	if !ok {
		return fmt.Errorf("type %s is not one plugins may use: pg_catalog's value types and the plugin's own are", displayName(t.Names))
	}
	// Modifiers are constants (varchar(20)); array bounds are integers.
	return c.exprs(t.Typmods, nil)
}

func (c *checker) collation(cc *pg_query.CollateClause) error {
	if cc == nil {
		return nil
	}
	return catalogNames("collation", cc.Collname)
}

// catalogNames refuses a name qualified with a schema other than
// pg_catalog (collations and operator classes).
func catalogNames(what string, names []*pg_query.Node) error {
	if len(names) == 0 {
		return nil
	}
	if _, err := catalogName(names); err != nil {
		return fmt.Errorf("%s %s is not allowed: only unqualified or pg_catalog ones are", what, displayName(names))
	}
	return nil
}

// operator refuses an operator qualified with a schema other than
// pg_catalog (OPERATOR(public.=)).
func operator(names []*pg_query.Node) error {
	if _, err := catalogName(names); len(names) > 0 && err != nil {
		s, _ := strs(names)
		return fmt.Errorf("operator %s is not allowed: only unqualified or pg_catalog ones are", strings.Join(s, "."))
	}
	return nil
}

// catalogName is the name of an unqualified or pg_catalog-qualified object.
func catalogName(names []*pg_query.Node) (string, error) {
	s, err := strs(names)
	switch {
	case err != nil:
		return "", err
	case len(s) == 1:
		return s[0], nil
	case len(s) == 2 && s[0] == "pg_catalog":
		return s[1], nil
	}
	return "", errors.New("qualified")
}

// displayName writes a name for a refusal, quoted where SQL would quote
// it.
func displayName(names []*pg_query.Node) string {
	s, err := strs(names)
	if err != nil {
		return "(an expression)"
	}
	return qualifiedName(s...)
}

func strs(names []*pg_query.Node) ([]string, error) {
	s := make([]string, len(names))
	for i, n := range names {
		str := n.GetString_()
		if str == nil {
			return nil, fmt.Errorf("%s in a name", nodeName(n))
		}
		s[i] = str.Sval
	}
	return s, nil
}
