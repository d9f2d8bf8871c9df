package opa

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
)

// tenantBuiltins is every built-in a tenant module may call (operators and
// the compiler's internal ones included), each reviewed: one call costs
// about the size of its operands, or checks for cancellation, or is bounded
// (boundedBuiltins). An OPA upgrade that adds a built-in fails
// TestTenantBuiltinsArePinned until someone reviews it and adds it here or
// to refusedBuiltins.
var tenantBuiltins = []string{
	"abs", "all", "and", "any", "array.concat", "array.reverse", "array.slice", "assign",
	"base64.decode", "base64.encode", "base64.is_valid", "base64url.decode", "base64url.encode",
	"base64url.encode_no_pad", "bits.and", "bits.negate", "bits.or", "bits.rsh", "bits.xor",
	"cast_array", "cast_boolean", "cast_null", "cast_object", "cast_set", "cast_string", "ceil",
	"concat", "contains", "count", "crypto.hmac.equal", "crypto.hmac.md5", "crypto.hmac.sha1",
	"crypto.hmac.sha256", "crypto.hmac.sha512", "crypto.md5", "crypto.sha1", "crypto.sha256",
	"crypto.x509.parse_certificate_request", "crypto.x509.parse_certificates", "div", "endswith",
	"eq", "equal", "floor", "format_int", "glob.quote_meta", "graph.reachable", "gt", "gte",
	"hex.decode", "hex.encode", "indexof", "indexof_n", "internal.atrium_bounded", "internal.atrium_equal",
	"internal.member_2", "internal.member_3",
	"internal.print", "internal.template_string", "internal.test_case", "intersection",
	"io.jwt.decode", "io.jwt.verify_eddsa", "io.jwt.verify_es256", "io.jwt.verify_es384",
	"io.jwt.verify_es512", "io.jwt.verify_hs256", "io.jwt.verify_hs384", "io.jwt.verify_hs512",
	"is_array", "is_boolean", "is_null", "is_number", "is_object", "is_set", "is_string",
	"json.filter", "json.is_valid", "json.patch", "json.remove", "json.unmarshal", "lower", "lt",
	"lte", "max", "min", "minus", "mul", "neq", "net.cidr_contains", "net.cidr_expand",
	"net.cidr_intersects", "net.cidr_is_valid", "net.cidr_overlap", "numbers.range",
	"numbers.range_step", "object.filter", "object.get", "object.keys", "object.remove",
	"object.subset", "object.union", "object.union_n", "or", "plus", "print", "re_match",
	"regex.find_n", "regex.is_valid", "regex.match", "regex.replace", "regex.split",
	"regex.template_match", "rego.metadata.chain", "rego.metadata.rule", "rem", "replace", "round",
	"semver.compare", "semver.is_valid", "set_diff", "sort", "split", "sprintf", "startswith",
	"strings.any_prefix_match", "strings.any_suffix_match", "strings.count", "strings.replace_n",
	"strings.reverse", "strings.split_n", "substring", "sum", "time.add_date", "time.clock",
	"time.date", "time.diff", "time.format", "time.parse_duration_ns", "time.parse_ns",
	"time.parse_rfc3339_ns", "time.weekday", "to_number", "trim", "trim_left", "trim_prefix",
	"trim_right", "trim_space", "trim_suffix", "type_name", "union", "units.parse",
	"units.parse_bytes", "upper", "uri.is_valid", "uri.parse", "urlquery.decode",
	"urlquery.decode_object", "urlquery.encode", "urlquery.encode_object", "uuid.parse",
	"yaml.is_valid", "yaml.unmarshal",
}

func TestTenantBuiltinsArePinned(t *testing.T) {
	var got []string
	for _, b := range tenantCapabilities.Builtins {
		got = append(got, b.Name)
	}
	slices.Sort(got)
	added, removed := diff(got, tenantBuiltins), diff(tenantBuiltins, got)
	assert.Empty(t, added, "built-ins tenants may now call: can one call run long or allocate without bound "+
		"on operands a policy chooses? Refuse or bound it (builtins.go), or add it to tenantBuiltins")
	assert.Empty(t, removed, "built-ins tenants can no longer call: remove them from tenantBuiltins, and say so in docs/policies.md")
}

// diff is what a holds that b does not.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

func TestRefusedAndBoundedBuiltinsExist(t *testing.T) {
	for name, why := range refusedBuiltins {
		assert.Contains(t, ast.BuiltinMap, name, "refused built-in %s is gone from OPA: drop it", name)
		assert.NotEmpty(t, why, name)
	}
	for name, b := range boundedBuiltins {
		decl, ok := allowedBuiltins[name]
		require.True(t, ok, "bounded built-in %s is not one tenants may call", name)
		assert.NotNil(t, topdown.GetBuiltin(name), name)
		for _, i := range b.patterns {
			assert.Less(t, i, decl.Decl.Arity(), name)
		}
	}
}

// Every refused built-in is an "undefined function" when a tenant's policy
// is checked: a policy_invalid error, the API's 422.
func TestRefusedBuiltinsAreUndefinedFunctions(t *testing.T) {
	e, err := New(Options{})
	require.NoError(t, err)
	names := []string{"io.jwt.decode_verify", "io.jwt.encode_sign_raw", "json.verify_schema"} // non-deterministic
	for name := range refusedBuiltins {
		names = append(names, name)
	}
	for _, name := range names {
		args := make([]string, ast.BuiltinMap[name].Decl.Arity())
		for i := range args {
			args[i] = fmt.Sprintf("input.a%d", i)
		}
		rego := fmt.Sprintf("package tenant\ndeny contains \"x\" if { _ := %s(%s) }", name, strings.Join(args, ", "))
		err := e.Check(context.Background(), []policy.Module{{Name: "m", Rego: rego}})
		require.ErrorIs(t, err, policy.ErrInvalid, name)
		var ke *kernel.Error
		require.ErrorAs(t, err, &ke, name)
		require.NotEmpty(t, ke.Fields, name)
		assert.Contains(t, ke.Fields[0].Message, "undefined function "+name)
	}
}

func TestFormatWidths(t *testing.T) {
	for format, want := range map[string]int{
		"":                  0,
		"plain":             0,
		"%s and %d":         0,
		"%5d|%-10s|%.3f":    18,
		"%08.2f":            10,
		"%%5d":              0, // a literal percent sign, then "5d"
		"%0999999999d":      fmtMaxWidth,
		"%*d":               fmtMaxWidth,
		"%.*f":              fmtMaxWidth,
		"%0999999d%999999d": 1_999_998,
		"%":                 0,
		"%5":                5,
	} {
		assert.Equal(t, want, formatWidths(format), "%q", format)
	}
}

// size stops at its limit, whatever the value's full size: here 2^60
// leaves, built of shared parts.
func TestSizeStopsAtTheLimit(t *testing.T) {
	v := ast.ArrayTerm(ast.StringTerm("leaf"))
	for range 60 {
		v = ast.ArrayTerm(v, v)
	}
	start := time.Now()
	assert.Greater(t, size(v, 0, maxOperandSize), maxOperandSize)
	assert.Less(t, time.Since(start), time.Second)

	assert.Equal(t, 1+len("hello"), size(ast.StringTerm("hello"), 0, maxOperandSize))
	obj := ast.ObjectTerm(ast.Item(ast.StringTerm("k"), ast.SetTerm(ast.NumberTerm("12"))))
	assert.Equal(t, 1+(1+1)+(1+(1+2)), size(obj, 0, maxOperandSize))
}
