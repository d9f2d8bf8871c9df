package opa

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/policies"
)

func TestBaseIsMemoisedOnlyWhenItReadsActionAndPermissions(t *testing.T) {
	b, err := loadBase(policies.Base)
	require.NoError(t, err)
	require.NotNil(t, b.memo, "the base policy reads only input.action and input.subject.permissions")

	for name, rego := range map[string]string{
		"whole input":    `allow if count(input) > 0`,
		"another field":  `allow if input.subject.id == "u1"`,
		"subject prefix": "allow if input.action in input.subject.permissions\ndeny contains x if x := input.subject.roles[_]",
		"another key":    `allow if object.get(input, "subject", {}) == {}`,
		"import":         "import input.subject as s\nallow if s.id == \"u1\"",
		"with":           `allow if f with input.action as "x"` + "\nf if input.action == \"x\"",
		"clock":          `allow if time.now_ns() > 0`,
	} {
		fsys := fstest.MapFS{"base.rego": {Data: []byte("package atrium.base\n" +
			"default allow := false\ndefault grantable := false\ndeny contains \"no\" if false\n" + rego + "\n")}}
		b, err := loadBase(fsys)
		require.NoError(t, err, name)
		require.Nil(t, b.memo, name)
	}
}

func TestMemoKeysAreUnambiguous(t *testing.T) {
	key := func(action string, perms []string) string {
		return string(appendName(appendNames(nil, perms), action))
	}
	require.NotEqual(t, key("a", []string{"b:c"}), key("a", []string{"b", "c"}))
	require.NotEqual(t, key("a1:b", nil), key("a", []string{"b"}))
	require.NotEqual(t, key("", []string{"a"}), key("a", nil))
	require.Equal(t, key("a", nil), key("a", []string{}))
	require.NotEqual(t, string(appendNames(nil, []string{"a", ""})), string(appendNames(nil, []string{"a"})))
}
