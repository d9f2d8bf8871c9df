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
func CheckSQL(sql string) error {
	words, err := lex(sql)
	if err != nil {
		return sdk.Errorf(sdk.KindInvalid, "SQL refused: %v", err)
	}
	if len(words) == 0 {
		return sdk.Errorf(sdk.KindInvalid, "SQL refused: empty statement")
	}
	if first := words[0]; !first.quoted && !slices.Contains(statementKinds, first.text) {
		return sdk.Errorf(sdk.KindInvalid, "SQL refused: plugins run SELECT, INSERT, UPDATE and DELETE statements, not %s", strings.ToUpper(first.text))
	}
	for _, w := range words {
		switch {
		case !w.quoted && slices.Contains(forbiddenFunctions, w.text),
			!w.quoted && strings.HasPrefix(w.text, "pg_advisory") && !strings.Contains(w.text, "_xact_"),
			!w.quoted && strings.HasPrefix(w.text, "pg_try_advisory") && !strings.Contains(w.text, "_xact_"):
			return sdk.Errorf(sdk.KindInvalid, "SQL refused: %s changes or leaves the session", w.text)
		case slices.Contains(CoreTables, w.text):
			return sdk.Errorf(sdk.KindInvalid, "SQL refused: %s is a core table; plugins reach core data through the host's services", w.text)
		}
	}
	return nil
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
	text   string // lower case unless quoted
	quoted bool
}

// lex returns the statement's words and quoted identifiers, skipping string
// literals and comments. A second statement (after a semicolon) is an error.
func lex(sql string) ([]word, error) {
	var words []word
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				return words, nil
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
			words = append(words, word{text: strings.ReplaceAll(sql[i+1:i+n-1], `""`, `"`), quoted: true})
			i += n
		case c == '$' && i+1 < len(sql) && (sql[i+1] == '$' || isIdentStart(sql[i+1])):
			n, err := dollarQuoted(sql[i:])
			if err != nil {
				return nil, err
			}
			i += n
		case c == ';':
			if strings.TrimSpace(sql[i+1:]) != "" {
				return nil, fmt.Errorf("one statement at a time")
			}
			return words, nil
		case isIdentStart(c):
			j := i + 1
			for j < len(sql) && (isIdentStart(sql[j]) || sql[j] >= '0' && sql[j] <= '9' || sql[j] == '$') {
				j++
			}
			words = append(words, word{text: strings.ToLower(sql[i:j])})
			i = j
		default:
			i++
		}
	}
	return words, nil
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
