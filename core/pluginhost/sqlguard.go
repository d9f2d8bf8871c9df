package pluginhost

import (
	"fmt"
	"slices"
	"strings"

	"github.com/atriumhq/atrium/sdk"
)

// A plugin's SQL runs as the tenant's role, inside the request's unit of
// work, so PostgreSQL itself keeps it in its tenant. CheckSQL keeps it a data
// statement on the plugin's own tables: one SELECT, INSERT, UPDATE or DELETE
// (or WITH, VALUES, TABLE), that neither changes the session (set_config,
// session advisory locks) nor names one of the core's tables, which share the
// tenant's schema. DDL comes only through the plugin's migrations.
//
// A refusal is the plugin's bug, not the client's: an internal error whose
// message the plugin's author finds in the plugin's log.
//
// The check is lexical, so it is a second line: the tenant role is what
// keeps a plugin in its tenant (see docs/plugins.md for its limits).
func CheckSQL(sql string) error {
	stmts, err := lex(sql)
	if err != nil {
		return refused("%v", err)
	}
	if len(stmts) != 1 || len(stmts[0]) == 0 {
		return refused("one statement at a time")
	}
	words := stmts[0]
	if first := words[0]; first.quoted || !slices.Contains(statementKinds, first.text) {
		return refused("plugins run SELECT, INSERT, UPDATE and DELETE statements, not %s", strings.ToUpper(first.text))
	}
	return checkWords(words)
}

// CheckMigration checks a plugin's migration: statements that create,
// alter or drop its own tables, indexes, views, sequences and types, and
// seed them; nothing that changes roles, privileges or the session, no
// functions or procedures (their bodies would hide statements), and none of
// the core's tables.
func CheckMigration(sql string) error {
	stmts, err := lex(sql)
	if err != nil {
		return fmt.Errorf("migration refused: %w", err)
	}
	for _, words := range stmts {
		if len(words) == 0 {
			continue
		}
		first := words[0]
		if first.quoted || !slices.Contains(migrationKinds, first.text) {
			return fmt.Errorf("migration refused: %s statements are not allowed in plugin migrations", strings.ToUpper(first.text))
		}
		if first.text == "create" || first.text == "alter" || first.text == "drop" {
			if obj := object(words[1:]); !slices.Contains(migrationObjects, obj) {
				return fmt.Errorf("migration refused: %s %s is not allowed in plugin migrations", strings.ToUpper(first.text), strings.ToUpper(obj))
			}
		}
		for _, w := range words {
			if !w.quoted && slices.Contains(migrationForbidden, w.text) {
				return fmt.Errorf("migration refused: %s is not allowed in plugin migrations", strings.ToUpper(w.text))
			}
		}
		if err := checkWords(words); err != nil {
			return fmt.Errorf("migration %w", err)
		}
	}
	return nil
}

// object is the kind of object a CREATE, ALTER or DROP names, past its
// modifiers.
func object(words []word) string {
	for _, w := range words {
		switch w.text {
		case "unique", "or", "replace", "temporary", "temp", "unlogged", "materialized", "concurrently":
			continue
		}
		return w.text
	}
	return ""
}

var (
	migrationKinds     = []string{"create", "alter", "drop", "comment", "insert", "update", "delete"}
	migrationObjects   = []string{"table", "index", "view", "sequence", "type"}
	migrationForbidden = []string{"reset", "role", "authorization", "grant", "revoke", "owner", "security",
		"definer", "function", "procedure", "trigger", "execute", "copy", "do", "call", "set_config"}
)

func checkWords(words []word) error {
	for _, w := range words {
		switch {
		case w.unicode:
			return refused("Unicode-escaped names and strings (U&) are not accepted")
		case !w.quoted && (slices.Contains(forbiddenFunctions, w.text) || runsSQLText(w.text)),
			!w.quoted && strings.HasPrefix(w.text, "pg_advisory") && !strings.Contains(w.text, "_xact_"),
			!w.quoted && strings.HasPrefix(w.text, "pg_try_advisory") && !strings.Contains(w.text, "_xact_"):
			return refused("%s changes or leaves the session, or runs SQL of its own", w.text)
		case slices.Contains(CoreTables, w.text):
			return refused("%s is a core table; plugins reach core data through the host's services", w.text)
		}
	}
	return nil
}

// runsSQLText reports the built-ins that run a query given as text, which
// would slip past a check of the statement's words.
func runsSQLText(name string) bool {
	return strings.HasSuffix(name, "_to_xml") || strings.HasSuffix(name, "_to_xmlschema") ||
		strings.HasSuffix(name, "_to_xml_and_xmlschema") || name == "ts_stat" || name == "ts_rewrite"
}

func refused(format string, args ...any) error {
	return sdk.Errorf(sdk.KindInternal, "SQL refused: "+format, args...)
}

var statementKinds = []string{"select", "insert", "update", "delete", "with", "values", "table"}

// forbiddenFunctions change the session, reach outside the database or end
// other sessions.
var forbiddenFunctions = []string{"set_config", "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf",
	"pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import", "lo_export", "dblink", "dblink_exec"}

// CoreTables are the core's tables in every tenant schema: names a plugin's
// SQL may not use, for tables or anything else.
var CoreTables = []string{"users", "roles", "refresh_families", "refresh_tokens", "policy_modules", "policy_revision",
	"audit_log", "audit_chain", "audit_pending", "audit_head", "schema_migrations"}

type word struct {
	text    string // lower case unless quoted
	quoted  bool
	unicode bool // a U&'...' string or U&"..." name, whose escapes hide its text
}

// lex splits SQL into statements of words and quoted identifiers, skipping
// string literals and comments.
func lex(sql string) ([][]word, error) {
	stmts := [][]word{nil}
	add := func(w word) { stmts[len(stmts)-1] = append(stmts[len(stmts)-1], w) }
	for i := 0; i < len(sql); {
		c := sql[i]
		unicode := (c == 'u' || c == 'U') && i+2 < len(sql) && sql[i+1] == '&' && (sql[i+2] == '\'' || sql[i+2] == '"')
		switch {
		case unicode:
			add(word{text: "u&", unicode: true})
			i += 2
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				i = len(sql)
				continue
			}
			i += end + 1
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			n, err := blockComment(sql[i:])
			if err != nil {
				return nil, err
			}
			i += n
		case c == '\'':
			n, err := quoted(sql[i:], '\'', i > 0 && (sql[i-1] == 'e' || sql[i-1] == 'E'))
			if err != nil {
				return nil, err
			}
			i += n
		case c == '"':
			n, err := quoted(sql[i:], '"', false)
			if err != nil {
				return nil, err
			}
			add(word{text: strings.ReplaceAll(sql[i+1:i+n-1], `""`, `"`), quoted: true})
			i += n
		case c == '$' && i+1 < len(sql) && (sql[i+1] == '$' || isIdentStart(sql[i+1])):
			n, err := dollarQuoted(sql[i:])
			if err != nil {
				return nil, err
			}
			i += n
		case c == ';':
			stmts = append(stmts, nil)
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(sql) && (isIdentStart(sql[j]) || sql[j] >= '0' && sql[j] <= '9' || sql[j] == '$') {
				j++
			}
			add(word{text: strings.ToLower(sql[i:j])})
			i = j
		default:
			i++
		}
	}
	// Empty statements (a trailing semicolon) are no statements.
	out := stmts[:0]
	for _, st := range stmts {
		if len(st) > 0 {
			out = append(out, st)
		}
	}
	if len(out) == 0 {
		out = append(out, nil)
	}
	return out, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// quoted is the length of a '...' or "..." token; a doubled quote stays
// inside, and so does a backslash-escaped one in an E'...' string.
func quoted(s string, q byte, backslash bool) (int, error) {
	for i := 1; i < len(s); i++ {
		switch {
		case backslash && s[i] == '\\':
			i++
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			i++
		case s[i] == q:
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated %c", q)
}

func blockComment(s string) (int, error) {
	depth := 0
	for i := 0; i+1 < len(s); i++ {
		switch s[i : i+2] {
		case "/*":
			depth++
			i++
		case "*/":
			depth--
			i++
			if depth == 0 {
				return i + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("unterminated comment")
}

// dollarQuoted is the length of a $tag$...$tag$ string, or of a $1
// parameter (not a string at all).
func dollarQuoted(s string) (int, error) {
	end := strings.IndexByte(s[1:], '$')
	if end < 0 {
		// $name without a closing $: not a dollar quote (PostgreSQL would
		// reject it, so nothing hides behind it).
		return 1, nil
	}
	tag := s[:end+2]
	for _, c := range tag[1 : len(tag)-1] {
		if !isTagRune(c) {
			return 1, nil
		}
	}
	rest := strings.Index(s[len(tag):], tag)
	if rest < 0 {
		return 0, fmt.Errorf("unterminated dollar quote")
	}
	return len(tag) + rest + len(tag), nil
}

func isTagRune(c rune) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
