package domain

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of the text fields, in characters. The migrations' CHECK
// constraints repeat them as a last line of defence.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 4000
	MaxTitleLen       = 200
)

// checkLabel validates a one-line label (a project name, a task title):
// surrounding blanks are dropped, and what remains must be 1 to max
// characters without control characters.
func checkLabel(fe *fieldErrors, field, s string, maxLen int) string {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		fe.add(field, "is required")
	case utf8.RuneCountInString(s) > maxLen:
		fe.add(field, fmt.Sprintf("must be at most %d characters", maxLen))
	case strings.ContainsFunc(s, unicode.IsControl):
		fe.add(field, "must be one line without control characters")
	}
	return s
}

// checkProse validates free text (a description): up to max characters,
// line breaks and tabs allowed, other control characters (NUL above all,
// which PostgreSQL refuses) not.
func checkProse(fe *fieldErrors, field, s string, maxLen int) string {
	switch {
	case utf8.RuneCountInString(s) > maxLen:
		fe.add(field, fmt.Sprintf("must be at most %d characters", maxLen))
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }):
		fe.add(field, "must not contain control characters other than line breaks and tabs")
	}
	return s
}
