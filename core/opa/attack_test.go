package opa_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
)

// levels is how deep each attack goes: 2^26 leaves, past the stack of any
// goroutine if a unification ever walked them, and minutes of CPU for a
// comparison.
const levels = 26

// chain is Rego building name0 ... name<levels>, each level from the one
// before by step, a format with %[1]s for the level before.
func chain(name, first, step string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s0 := %s\n", name, first)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "%s%d := %s\n", name, i, fmt.Sprintf(step, fmt.Sprintf("%s%d", name, i-1)))
	}
	return b.String()
}

// both is the chain for x and for y, and a rule comparing the last two with
// cond, a format with %[1]s for x<levels> and %[2]s for y<levels>.
func both(cond, first, step string) string {
	x, y := fmt.Sprintf("x%d", levels), fmt.Sprintf("y%d", levels)
	return "allow contains \"never\" if " + fmt.Sprintf(cond, x, y) + "\n" + chain("x", first, step) + chain("y", first, step)
}

// inBody is a chain bound inside one body with op (= or :=).
func inBody(op, cond string) string {
	var b strings.Builder
	b.WriteString("allow contains \"never\" if {\n")
	for _, v := range []string{"x", "y"} {
		fmt.Fprintf(&b, "\t%s0 %s [1]\n", v, op)
		for i := 1; i <= levels; i++ {
			fmt.Fprintf(&b, "\t%s%d %s [%s%d, %s%d]\n", v, i, op, v, i-1, v, i-1)
		}
	}
	fmt.Fprintf(&b, "\t%s\n}\n", fmt.Sprintf(cond, fmt.Sprintf("x%d", levels), fmt.Sprintf("y%d", levels)))
	return b.String()
}

// deep is a constant of nested arrays, which OPA's type checker compares in
// time exponential in its depth.
var deep = strings.Repeat("[", levels) + "1" + strings.Repeat("]", levels)

// nested is one expression of comprehensions nested levels deep, each
// doubling the one it iterates over.
func nested() string {
	arg := "[1]"
	for i := range levels {
		arg = fmt.Sprintf("[[v%d, v%d] | some v%d in %s]", i, i, i, arg)
	}
	return arg
}

// attacks each build values of 2^26 leaves from shared parts, each in a way
// of its own, and use them as only such a value's size makes dangerous.
var attacks = map[string]string{
	"literal arrays ==":    both("%s == %s", "[1]", "[%[1]s, %[1]s]"),
	"literal arrays =":     both("%s = %s", "[1]", "[%[1]s, %[1]s]"),
	"literal arrays <":     both("%s < %s", "[1]", "[%[1]s, %[1]s]"),
	"literal arrays !=":    both("%s != %s", "[1]", "[%[1]s, %[1]s]"),
	"literal objects ==":   both("%s == %s", `{"a": 1}`, `{"a": %[1]s, "b": %[1]s}`),
	"literal sets ==":      both("%s == %s", "{1}", "{[%[1]s, 1], [%[1]s, 2]}"),
	"array.concat ==":      both("%s == %s", "[1]", "array.concat([%[1]s], [%[1]s])"),
	"object.union ==":      both("%s == %s", `{"a": 1}`, `object.union({"a": %[1]s}, {"b": %[1]s})`),
	"object.union_n ==":    both("%s == %s", `{"a": 1}`, `object.union_n([{"a": %[1]s}, {"b": %[1]s}])`),
	"union of sets ==":     both("%s == %s", "{1}", "union({{[%[1]s, 1]}, {[%[1]s, 2]}})"),
	"set | ==":             both("%s == %s", "{1}", "{[%[1]s, 1]} | {[%[1]s, 2]}"),
	"json.patch copy ==":   both("%s == %s", `{"a": 1}`, `json.patch({"a": %[1]s}, [{"op": "copy", "from": "/a", "path": "/b"}])`),
	"comprehension ==":     both("%s == %s", "[1]", "[v | some v in [%[1]s, %[1]s]]"),
	"nested comprehension": both("%s == %s", "[1]", "[[w | some w in [v, v]] | some v in [%[1]s]]"),
	"set comprehension ==": both("%s == %s", "{1}", "{[v, i] | some i in [1, 2]; v := %[1]s}"),
	"object comprehension": both("%s == %s", `{"a": 1}`, `{k: %[1]s | some k in ["a", "b"]}`),
	"function result ==":   "double(v) := [v, v]\n" + both("%s == %s", "[1]", "double(%[1]s)"),
	"with value ==":        both("%s == %s", "[1]", "v if { v := input.v with input.v as [%[1]s, %[1]s] }"),
	"set insertion":        both("count({%s, %s}) > 0", "[1]", "[%[1]s, %[1]s]"),
	"count":                both("count([%s, %s]) > 0", "[1]", "[%[1]s, %[1]s]"),
	"in":                   both("%s in [%s]", "[1]", "[%[1]s, %[1]s]"),
	"object key":           both(`{%s: 1}[%s] == 1`, "[1]", "[%[1]s, %[1]s]"),
	"body =":               inBody("=", "%s = %s"),
	"body :=":              inBody(":=", "%s == %s"),
	"body = bound":         inBody("=", "%[1]s = %[1]s; z = %[1]s; z = %[2]s"),
	"pattern":              both("[%s, _] = [%s, 1]", "[1]", "[%[1]s, %[1]s]"),
	"some in":              both("{ some v in [%s]; v == %s }", "[1]", "[%[1]s, %[1]s]"),
	"function pattern":     "same([a, a]) := true\n" + both("same([%s, %s])", "[1]", "[%[1]s, %[1]s]"),
	"function args":        "same2(a, a) := true\n" + both("same2(%s, %s)", "[1]", "[%[1]s, %[1]s]"),
	"partial set key":      "p contains v if some v in [x26]\n" + both("p[%[2]s]", "[1]", "[%[1]s, %[1]s]"),
	"partial set chain": "s0 contains 1\n" + partialChain("s", func(i int) string {
		return fmt.Sprintf("s%d contains [s%d, 1]\ns%d contains [s%d, 2]", i, i-1, i, i-1)
	}),
	"partial object chain": "o0[\"a\"] := 1\n" + partialChain("o", func(i int) string {
		return fmt.Sprintf(`o%d[k] := o%d if some k in ["a", "b"]`, i, i-1)
	}),
	"one expression":        "allow contains \"never\" if count(" + nested() + ") < 0", // refused: nesting
	"constant nesting":      "allow contains \"never\" if { a := " + deep + "; a == " + deep + " }",
	"deny rule":             strings.Replace(both("%s == %s", "[1]", "[%[1]s, %[1]s]"), "allow", "deny", 1),
	"reason":                "deny contains x26 if true\n" + chain("x", "[1]", "[%[1]s, %[1]s]"),
	"json.marshal":          both("json.marshal(%s) == json.marshal(%s)", "[1]", "[%[1]s, %[1]s]"),
	"tests: literal arrays": "tests:" + both("%s == %s", "[1]", "[%[1]s, %[1]s]"),
	"tests: body =":         "tests:" + inBody("=", "%s = %s"),
}

// partialChain is the partial rules of each level, from the one before,
// and a rule counting the last.
func partialChain(name string, level func(i int) string) string {
	var b strings.Builder
	for i := 1; i <= levels; i++ {
		fmt.Fprintln(&b, level(i))
	}
	fmt.Fprintf(&b, "allow contains \"never\" if count(%s%d) > 0\n", name, levels)
	return b.String()
}

// moderate is xs and ys, arrays of 5,000 one-element arrays (10,001
// elements each: within the bound), equal.
const moderate = "xs := [[i] | some i in numbers.range(1, 5000)]\nys := [[i] | some i in numbers.range(1, 5000)]\n"

// repeated is a rule that does what 300 times (%[1]d: the time), then
// allows.
func repeated(what string, pre ...string) string {
	var b strings.Builder
	for i := range 300 {
		b.WriteString("\t" + strings.ReplaceAll(what, "%[1]d", fmt.Sprint(i)) + "\n")
	}
	return moderate + strings.Join(pre, "\n") + "\nallow contains \"ok\" if {\n" + b.String() + "}\n"
}

// heavy policies use values within the bound, but each many times in a
// body: unification keeps its stack, a frame per element visited, until
// the body's end, and 300 unifications of 10,001 elements overflowed it.
// Each must decide (allow), not crash.
var heavy = map[string]string{
	"heavy: equalities":     repeated("xs == ys"),
	"heavy: unifications":   repeated("xs = ys"),
	"heavy: patterns":       repeated("[_, xs] = pair", "pair := [1, ys]"),
	"heavy: iterations":     repeated("wrapped[_] = ys", "wrapped := [xs]"),
	"heavy: arguments":      repeated("same([xs, %[1]d], [ys, %[1]d])", "same(a, a) := true"),
	"heavy: results":        repeated("id(xs) == ys", "id(a) := a"),
	"heavy: decomposition":  repeated("[xs, 1] = [ys, 1]"),
	"heavy: membership":     repeated("xs in [ys]"),
	"heavy: rule key":       repeated("p[ys]", "p contains v if some v in [xs]"),
	"heavy: comprehensions": repeated("count([1 | xs == ys]) == 1"),
	"heavy: lookup chain":   moderate + lookupChain(190) + "allow contains \"ok\" if p190[ys]\n",
}

// lookupChain is partial sets p0 ... p<n>, each looking its element up in
// the one before: a lookup matches its key with the rule's, in the rule.
func lookupChain(n int) string {
	var b strings.Builder
	b.WriteString("p0 contains v if some v in [xs]\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "p%d contains v if { some v in [xs]; p%d[v] }\n", i, i-1)
	}
	return b.String()
}

const attackEnv = "ATRIUM_OPA_ATTACK"

// Each attack runs in a process of its own: were one to overflow the stack,
// a fatal error, the subtest fails and the others still run. Each is denied
// (or refused, as an upload's tests), promptly, by a bound of the sandbox.
func TestSharedValueAttacksAreDenied(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(maps.Collect(func(yield func(string, string) bool) {
		maps.All(attacks)(yield)
		maps.All(heavy)(yield)
	}))) {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAttackChild$", "-test.v")
			cmd.Env = append(os.Environ(), attackEnv+"="+name)
			out, err := cmd.CombinedOutput()
			tail := string(out[max(0, len(out)-3000):])
			require.NoError(t, err, "the process died:\n%s", tail)
			require.Contains(t, string(out), "--- PASS: TestAttackChild", tail)
			for _, line := range strings.Split(string(out), "\n") {
				if _, result, ok := strings.Cut(line, ": denied: "); ok {
					t.Log("denied: " + result)
				} else if _, result, ok := strings.Cut(line, ": decided: "); ok {
					t.Log("decided: " + result)
				}
			}
		})
	}
}

// TestAttackChild runs one attack, named by attackEnv, for the test above.
func TestAttackChild(t *testing.T) {
	name := os.Getenv(attackEnv)
	if name == "" {
		t.Skip("run by TestSharedValueAttacksAreDenied")
	}
	// Deadlines far away: the bound stops each attack, not a clock.
	e := newEngine(t, opa.Options{Deadline: 20 * time.Second, TestTimeout: 20 * time.Second, CheckTimeout: time.Minute})
	if rego, ok := heavy[name]; ok {
		src := &source{sets: map[string]policy.Set{"t1": set(1, "package tenant\n"+rego)}}
		start := time.Now()
		d, err := e.Evaluate(context.Background(), "t1", src, in("projects.task.delete"), false)
		require.NoError(t, err)
		assert.True(t, d.Allow, d.Reasons)
		t.Logf("decided: in %s", time.Since(start).Round(time.Millisecond))
		return
	}
	rego, ok := attacks[name]
	require.True(t, ok, name)
	start := time.Now()
	var err error
	if tests, ok := strings.CutPrefix(rego, "tests:"); ok {
		err = e.Check(context.Background(), []policy.Module{{Name: "guard", Rego: noDeletes,
			Tests: "package tenant.guard_test\ntest_attack if {\n\tnot attack\n}\n" + strings.ReplaceAll(tests, "allow contains \"never\" if", "attack if")}})
	} else {
		src := &source{sets: map[string]policy.Set{"t1": set(1, "package tenant\n"+rego)}}
		var d access.Decision
		d, err = e.Evaluate(context.Background(), "t1", src, in("projects.task.read"), false)
		assert.False(t, d.Allow, "denied, though the base allows projects.task.read")
		t.Logf("reasons: %v", d.Reasons)
	}
	took := time.Since(start)
	require.Error(t, err)
	t.Logf("denied: in %s: %v", took.Round(time.Millisecond), err)
	// A bound's error, not the deadline's: nothing ran for long.
	assert.Regexp(t, `value too large|over the sandbox's limit|undefined function json.marshal|over the limits of`, err.Error())
}
