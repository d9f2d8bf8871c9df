package pluginhost

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/atriumhq/atrium/sdk"
)

// A plugin's SQL runs in the request's unit of work as the plugin's own
// PostgreSQL role, which owns only the plugin's tables: PostgreSQL's
// privileges are the first line. The guard here is the second: it parses
// each statement with PostgreSQL's own grammar (pg_query, the parser of
// PostgreSQL 17) and refuses it unless every statement kind, relation,
// function, type and operator in the tree is on an allow-list. Any node the
// walker does not know is refused, so new grammar is refused until someone
// reviews it.
//
// A refusal is the plugin's bug, not the client's: an internal error whose
// message, in the plugin's log, says what was refused and why.

// Owns reports whether name (a table, view, sequence, index, type or
// domain in the tenant's schema) belongs to plugin: it is the plugin's name
// or starts with the name and an underscore. Plugin names have no
// underscore and the core reserves the first word of its own names, so two
// plugins, or a plugin and the core, never own the same name. "pg" owns
// nothing: unqualified, pg_ names find PostgreSQL's catalogs first.
func Owns(plugin, name string) bool {
	if !validPluginName(plugin) || plugin == "pg" {
		return false
	}
	return name == plugin || len(name) > len(plugin) && name[len(plugin)] == '_' && strings.HasPrefix(name, plugin)
}

// validPluginName matches ^[a-z][a-z0-9]{1,30}$, the manifest's rule.
func validPluginName(s string) bool {
	if len(s) < 2 || len(s) > 31 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// CheckSQL checks one statement a plugin sends at run time: a SELECT,
// INSERT, UPDATE or DELETE on the plugin's own tables, calling only
// allow-listed functions. Verdicts are cached by plugin and text, so a
// statement is parsed once, not per request.
func CheckSQL(plugin, sql string) error {
	key := verdictKey{plugin: plugin, sql: sql}
	cacheable := len(sql) <= maxCachedSQL
	if cacheable {
		if err, ok := verdicts.Get(key); ok {
			return refusal(err)
		}
	}
	err := checkSQL(plugin, sql)
	if cacheable {
		verdicts.Add(key, err)
	}
	return refusal(err)
}

// CheckMigration checks one migration file of plugin: statements that
// create, alter, rename, drop and comment on the plugin's own tables,
// indexes, views, sequences, types and domains, and seed them with data
// statements under CheckSQL's rules.
func CheckMigration(plugin, sql string) error {
	stmts, err := parse(sql)
	if err != nil {
		return fmt.Errorf("migration refused: %w", err)
	}
	c := &checker{plugin: plugin, sql: sql}
	for _, raw := range stmts {
		if err := guarded(func() error { return c.migrationStmt(raw) }); err != nil {
			return fmt.Errorf("migration refused: %w", err)
		}
	}
	return nil
}

// checkSQL is CheckSQL's verdict without the cache: nil or the reason.
func checkSQL(plugin, sql string) error {
	stmts, err := parse(sql)
	if err != nil {
		return err
	}
	switch len(stmts) {
	case 0:
		return errors.New("no statement, only space or comments")
	case 1:
	default:
		return errors.New("one statement at a time")
	}
	c := &checker{plugin: plugin, sql: sql}
	switch stmts[0].Stmt.GetNode().(type) {
	case *pg_query.Node_SelectStmt, *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt:
		return guarded(func() error { return c.statement(stmts[0].Stmt, nil) })
	}
	return fmt.Errorf("plugins run SELECT, INSERT, UPDATE and DELETE statements, not %s", firstWord(sql))
}

func parse(sql string) ([]*pg_query.RawStmt, error) {
	// The parser reads a C string: a NUL would end the text it checks
	// before the text the server gets.
	if strings.IndexByte(sql, 0) >= 0 || !utf8.ValidString(sql) {
		return nil, errors.New("the text holds a NUL byte or is not UTF-8")
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, err
	}
	return tree.GetStmts(), nil
}

// guarded runs a walk and fails closed: a tree the walker did not expect
// (a bug) refuses the statement instead of ending the process.
func guarded(walk func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", guardFailed, r)
		}
	}()
	return walk()
}

const guardFailed = "the guard failed on this statement"

func refusal(err error) error {
	if err == nil {
		return nil
	}
	return sdk.Errorf(sdk.KindInternal, "SQL refused: %v", err)
}

// The verdict cache: allowed (nil) or the reason of the refusal, by plugin
// and text. Longer texts are checked every time, so the cache holds at most
// verdictCacheSize * maxCachedSQL bytes of SQL.
const (
	verdictCacheSize = 4096
	maxCachedSQL     = 4096
)

type verdictKey struct{ plugin, sql string }

var verdicts = mustLRU[verdictKey, error](verdictCacheSize)

func mustLRU[K comparable, V any](size int) *lru.Cache[K, V] {
	c, err := lru.New[K, V](size)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return c
}

// firstWord is the statement's first keyword, for a refusal's message.
func firstWord(sql string) string {
	return strings.ToUpper(leadingTokens(sql, 1))
}

// leadingTokens is the text of the first n tokens of sql, comments left
// out.
func leadingTokens(sql string, n int) string {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return "?"
	}
	var words []string
	for _, t := range res.GetTokens() {
		if t.Token == pg_query.Token_SQL_COMMENT || t.Token == pg_query.Token_C_COMMENT {
			continue
		}
		if len(words) == n || int(t.End) > len(sql) || t.Start > t.End {
			break
		}
		words = append(words, sql[t.Start:t.End])
	}
	return strings.Join(words, " ")
}
