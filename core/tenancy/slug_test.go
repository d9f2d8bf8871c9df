package tenancy_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/atriumhq/atrium/core/tenancy"
)

var safeIdentifier = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func TestSlugRules(t *testing.T) {
	for _, ok := range []string{"acme", "acme-co", "a1b", "abc" + strings.Repeat("x", 29)} {
		assert.NoError(t, tenancy.CheckSlug(ok), ok)
	}
	for _, bad := range []string{
		"", "ab", "Acme", "1acme", "acme-", "-acme", "ac_me", "ac me", "acme;drop", `ac"me`, "ac'me",
		"public", "atrium", "pg-toast", "../etc", "ácme", "acme\x00", strings.Repeat("a", 33),
	} {
		assert.Error(t, tenancy.CheckSlug(bad), "%q", bad)
	}
}

// FuzzSlug: whatever is offered as a slug, only values that give plain,
// short identifiers are accepted, so schema and role names are always safe.
func FuzzSlug(f *testing.F) {
	for _, s := range []string{"acme", "public", `a"b`, "a..b", "ünï", strings.Repeat("z", 64), "t_acme", "a-b-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, slug string) {
		if tenancy.CheckSlug(slug) != nil {
			return
		}
		schema, role := tenancy.SchemaName(slug), tenancy.RoleName("abcd1234", slug)
		for _, id := range []string{schema, role} {
			if !safeIdentifier.MatchString(id) || len(id) > 63 {
				t.Fatalf("slug %q gives unsafe identifier %q", slug, id)
			}
		}
		if schema == "t_public" || strings.Contains(slug, "_") {
			t.Fatalf("slug %q accepted", slug)
		}
	})
}
