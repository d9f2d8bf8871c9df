package opa_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
)

// requireInvalid asserts err is a policy_invalid whose messages contain want.
func requireInvalid(t *testing.T, err error, want string) {
	t.Helper()
	require.ErrorIs(t, err, policy.ErrInvalid)
	var ke *kernel.Error
	require.ErrorAs(t, err, &ke)
	var msgs []string
	for _, f := range ke.Fields {
		msgs = append(msgs, f.Message)
	}
	assert.Contains(t, strings.Join(msgs, "\n"), want)
}

func TestSandboxRefuses(t *testing.T) {
	e := newEngine(t, opa.Options{})
	cases := map[string]struct{ rego, want string }{
		"http.send":            {`deny contains "x" if http.send({"method": "GET", "url": "http://127.0.0.1/"}).status_code == 200`, "undefined function http.send"},
		"net.lookup_ip_addr":   {`deny contains "x" if net.lookup_ip_addr("example.com")`, "undefined function net.lookup_ip_addr"},
		"opa.runtime":          {`deny contains "x" if opa.runtime().env.HOME`, "undefined function opa.runtime"},
		"time.now_ns":          {`deny contains "x" if time.now_ns() > 0`, "undefined function time.now_ns"},
		"rand.intn":            {`deny contains "x" if rand.intn("a", 10) == 1`, "undefined function rand.intn"},
		"uuid.rfc4122":         {`deny contains "x" if uuid.rfc4122("a")`, "undefined function uuid.rfc4122"},
		"rego.parse_module":    {`deny contains "x" if rego.parse_module("a.rego", "package a")`, "undefined function rego.parse_module"},
		"trace":                {`deny contains "x" if trace("hello")`, "undefined function trace"},
		"io.jwt.encode_sign":   {`deny contains "x" if io.jwt.encode_sign({}, {}, {})`, "undefined function io.jwt.encode_sign"},
		"json.match_schema":    {`deny contains "x" if json.match_schema({}, {})`, "undefined function json.match_schema"},
		"base data":            {`allow contains "x" if data.atrium.base.allow`, "data.atrium.base.allow: only data.tenant may be referenced"},
		"system data":          {`deny contains "x" if data.system.version`, "only data.tenant may be referenced"},
		"bare data":            {`deny contains "x" if count(data) > 0`, "data: only data.tenant may be referenced"},
		"dynamic data":         {`deny contains "x" if { some k; data[k] }`, "only data.tenant may be referenced"},
		"import data":          {"import data.atrium.base\nallow contains \"x\" if base.allow", "data.atrium.base: only data.tenant may be referenced"},
		"with data":            {`allow contains "x" if { data.tenant.p with data.atrium.base.allow as true }` + "\np := true", "only data.tenant may be referenced"},
		"deny not a set":       {`deny := true`, "deny and allow are sets of reasons"},
		"default deny":         {`default deny := set()`, "deny and allow are sets of reasons"},
		"allow as an object":   {`allow[x] := 1 if x := "a"`, "deny and allow are sets of reasons"},
		"deny as a function":   {`deny(x) := x`, "deny and allow are sets of reasons"},
		"deny below a var":     {`p[x].deny contains "y" if x := "a"`, "deny and allow are sets of reasons"},
		"something under deny": {`deny.more contains "y" if true`, "deny and allow are sets of reasons"},
		"syntax":               {`deny contains "x" if {`, "rego_parse_error"},
		"unsafe var":           {`deny contains x if true`, "rego_unsafe_var_error"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			requireInvalid(t, e.Check(context.Background(), modules("package tenant\n"+c.rego)), c.want)
		})
	}
}

func TestSandboxPackages(t *testing.T) {
	e := newEngine(t, opa.Options{})
	for pkg, ok := range map[string]bool{
		"tenant": true, "tenant.guard": true, "tenant.a.b_c": true, `tenant["with-dash"]`: true,
		"atrium.base": false, "atrium": false, "system": false, "tenants": false, "guard.tenant": false,
		"tenant.deny": false, "tenant.x.allow": false,
	} {
		err := e.Check(context.Background(), modules("package "+pkg+"\nallow contains \"x\" if true"))
		if ok {
			assert.NoError(t, err, pkg)
		} else {
			requireInvalid(t, err, "tenant modules declare package tenant or a package under it")
		}
	}
	// Tests are confined the same way.
	requireInvalid(t, e.Check(context.Background(), []policy.Module{{Name: "a", Rego: "package tenant\np := 1",
		Tests: "package atrium.base_test\ntest_x if true"}}), "package atrium.base_test")
}

func TestSandboxAccepts(t *testing.T) {
	e := newEngine(t, opa.Options{})
	for _, rego := range []string{
		`deny contains "outside" if not net.cidr_contains("10.0.0.0/8", input.request.ip)`,
		`deny contains "late" if time.clock(time.parse_rfc3339_ns(input.request.time))[0] > 20`,
		"import data.tenant.helpers\ndeny contains \"x\" if helpers.p",
		`guard.deny contains "nested" if input.action == "x"`,
		`allow contains {"structured": true} if true`,
	} {
		mods := modules("package tenant\n" + rego)
		mods = append(mods, policy.Module{Name: "helpers", Rego: "package tenant.helpers\np if false"})
		assert.NoError(t, e.Check(context.Background(), mods), rego)
	}
}

func TestSandboxLimits(t *testing.T) {
	e := newEngine(t, opa.Options{})
	var b strings.Builder
	b.WriteString("package tenant\n")
	for i := range policy.MaxRules + 1 {
		fmt.Fprintf(&b, "p%d := %d\n", i, i)
	}
	requireInvalid(t, e.Check(context.Background(), modules(b.String())), "201 rules, over the limit of 200")

	big := "package tenant\n# " + strings.Repeat("x", policy.MaxModuleBytes) + "\n"
	requireInvalid(t, e.Check(context.Background(), modules(big)), "is over 65536 bytes")

	// Compile time grows faster than linearly with a rule's size: terms are
	// limited per rule and per tenant.
	chain := "package tenant\np := 1" + strings.Repeat(" + 1", 1100)
	requireInvalid(t, e.Check(context.Background(), modules(chain)), "rule p has 4402 terms, over the limit of 4096")
	var mods []string
	for i := range 10 {
		mods = append(mods, fmt.Sprintf("package tenant.m%d\np := 1%s\nq := 1%s", i, strings.Repeat(" + 1", 900), strings.Repeat(" + 1", 900)))
	}
	requireInvalid(t, e.Check(context.Background(), modules(mods...)), "the tenant's modules hold 72040 terms together, over the limit of 32768")

	many := make([]string, policy.MaxModules+1)
	for i := range many {
		many[i] = fmt.Sprintf("package tenant.m%d\np := 1", i)
	}
	requireInvalid(t, e.Check(context.Background(), modules(many...)), "at most 20 policy modules")
}

// TestBasePackageModuleHasNoEffect: a module declaring the base package is
// refused at upload; and should one ever be stored (say, written before a
// rule existed), it does not compile as a tenant policy, so decisions
// deny (fail closed) instead of taking its `allow if true`.
func TestBasePackageModuleHasNoEffect(t *testing.T) {
	e := newEngine(t, opa.Options{})
	evil := "package atrium.base\nallow if true\ngrantable if true"
	requireInvalid(t, e.Check(context.Background(), modules(evil)), "package atrium.base")

	src := &source{sets: map[string]policy.Set{"t1": set(1, evil)}}
	d, err := e.Evaluate(context.Background(), "t1", src, in("identity.user.delete"), false)
	require.Error(t, err)
	assert.False(t, d.Allow)
	d, err = e.Evaluate(context.Background(), "t1", src, in("projects.task.read"), false)
	require.Error(t, err)
	assert.False(t, d.Allow, "fail closed, even for what RBAC allows")
}

// TestWithCannotWidenTheBase: `with` replaces input or data only inside the
// tenant's own evaluation. The base decides on the real input, apart, so
// a tenant rule that pretends the subject holds a reserved permission gets
// nowhere; and `with data.atrium...` does not compile (TestSandboxRefuses).
func TestWithCannotWidenTheBase(t *testing.T) {
	e := newEngine(t, opa.Options{})
	rego := `package tenant
import data.tenant.helpers
allow contains "pretend" if {
	helpers.holds with input.subject.permissions as [input.action]
}`
	helpers := "package tenant.helpers\nholds if input.action in input.subject.permissions"
	mods := append(modules(rego), policy.Module{Name: "helpers", Rego: helpers})
	require.NoError(t, e.Check(context.Background(), mods))
	src := &source{sets: map[string]policy.Set{"t1": {Revision: 1, Modules: mods}}}

	for _, action := range []string{"identity.user.delete", "access.policy.write", "audit.log.read"} {
		d, err := e.Evaluate(context.Background(), "t1", src, in(action), false)
		require.NoError(t, err)
		assert.False(t, d.Allow, action)
		assert.Equal(t, []string{action + " is reserved: tenant policies cannot grant it"}, d.Reasons)
	}
	// A plugin action it could grant outright anyway: `with` adds nothing.
	d, err := e.Evaluate(context.Background(), "t1", src, in("projects.task.delete"), false)
	require.NoError(t, err)
	assert.True(t, d.Allow)
	assert.Equal(t, []string{"pretend"}, d.Reasons)
}

func modules(regos ...string) []policy.Module {
	out := make([]policy.Module, len(regos))
	for i, r := range regos {
		out[i] = policy.Module{Name: fmt.Sprintf("m%d", i), Rego: r}
	}
	return out
}
