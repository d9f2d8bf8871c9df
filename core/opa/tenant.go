package opa

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
)

// tenantPolicy is one tenant's compiled policy at one revision.
type tenantPolicy struct {
	tenant   string
	revision int64
	version  string // the decisions' policy version, built once
	epoch    epoch  // the tenant's invalidation epoch when it was loaded
	// query collects every deny and allow set; nil when the tenant has no
	// modules (or when err is set).
	query *query
	// err is set when the stored set no longer compiles (say, after an
	// upgrade tightened the sandbox): every decision then denies.
	err error
	// shadow is the tenant's shadow version, rehearsed beside this one
	// (shadow.go); nil when there is none.
	shadow *shadowPolicy
	// slots bounds the tenant's evaluations running at once (runaway.go);
	// nil: unbounded. repairSlot is one more, for patient decisions only.
	slots, repairSlot chan struct{}
	// confirmed is when (unix nanoseconds) the revision was last checked.
	confirmed atomic.Int64
	// used is when (unix nanoseconds) the cache last counted it as used.
	used atomic.Int64
	// filters are its lists' partial results (filter.go).
	filters filterCache
}

// parseSet parses and sandbox-checks a tenant's modules and, when tests is
// set, their tests, returning the files in a stable order.
func parseSet(modules []policy.Module, tests bool) ([]tenantFile, []kernel.FieldError) {
	var files []tenantFile
	var problems []kernel.FieldError
	add := func(field, file, text string) {
		f, p := parseTenant(field, file, text)
		problems = append(problems, p...)
		if f.mod != nil {
			files = append(files, f)
		}
	}
	for _, m := range modules {
		add("rego", policy.FileName(m.Name), m.Rego)
		if tests && strings.TrimSpace(m.Tests) != "" {
			add("tests", policy.TestFileName(m.Name), m.Tests)
		}
	}
	total := map[string]int{}
	for _, f := range files {
		total[f.field] += f.terms
	}
	for field, what := range map[string]string{"rego": "modules", "tests": "tests"} {
		if total[field] > policy.MaxTerms {
			problems = append(problems, kernel.FieldError{Field: field, Message: fmt.Sprintf(
				"the tenant's %s hold %d terms together, over the limit of %d", what, total[field], policy.MaxTerms)})
		}
	}
	return files, problems
}

func moduleMap(files []tenantFile) map[string]*ast.Module {
	out := make(map[string]*ast.Module, len(files))
	for _, f := range files {
		out[f.name] = f.mod
	}
	return out
}

// compileTenant compiles a tenant's modules (without tests) in a compiler
// of their own and prepares the query that collects their deny and allow
// sets. Problems in the tenant's Rego are policy_invalid errors; a panic in
// the compiler on hostile input is one too.
func compileTenant(modules []policy.Module) (q *query, err error) {
	defer recoverInvalid(&err)
	if len(modules) > policy.MaxModules {
		return nil, policy.Invalid("the policy was not activated", kernel.FieldError{Field: "name",
			Message: fmt.Sprintf("a tenant has at most %d policy modules", policy.MaxModules)})
	}
	if len(modules) == 0 {
		return nil, nil
	}
	files, problems := parseSet(modules, false)
	if len(problems) > 0 {
		return nil, policy.Invalid("the policy does not compile", problems...)
	}
	c := newTenantCompiler(capabilitiesFor(files))
	if c.Compile(moduleMap(files)); c.Failed() {
		return nil, policy.Invalid("the policy does not compile", astErrors("rego", c.Errors)...)
	}
	mods := make([]*ast.Module, 0, len(files))
	for _, f := range files {
		mods = append(mods, c.Modules[f.name])
	}
	// The static checks again, on what the compiler resolved (imports,
	// aliases): whatever reaches data must still name data.tenant.
	for _, m := range mods {
		for _, msg := range dataProblems(m) {
			problems = append(problems, kernel.FieldError{Field: "rego", Message: m.Package.Location.File + ":" + msg})
		}
	}
	if len(problems) > 0 {
		return nil, policy.Invalid("the policy does not compile", problems...)
	}
	deny, allow := decisionPaths(mods)
	q, err = prepareQuery(c, "deny = ["+joinRefs(deny)+"]; allow = ["+joinRefs(allow)+"]")
	if err != nil {
		return nil, fmt.Errorf("prepare tenant policy: %w", err)
	}
	return q, nil
}

func joinRefs(refs []ast.Ref) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

// recoverInvalid turns a panic inside OPA on a tenant's input into a
// policy_invalid error: hostile Rego must not take the server down.
func recoverInvalid(err *error) {
	if r := recover(); r != nil {
		*err = policy.Invalid("the policy was not activated", kernel.FieldError{Field: "rego",
			Message: fmt.Sprintf("the policy compiler failed on this input: %v", r)})
	}
}
