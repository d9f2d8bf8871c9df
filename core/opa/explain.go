package opa

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/topdown"
)

// maxExplainLines bounds each part of an explanation: a trace of a large
// policy runs to thousands of lines, and a dry run answers a person.
const maxExplainLines = 400

// explanation renders the traces of a decision's evaluations as OPA prints
// them (`opa eval --explain full`), base first.
func explanation(base, tenant *topdown.BufferTracer, hasTenant bool) []string {
	out := append([]string{"# base policy (data.atrium.base)"}, traceLines(*base)...)
	if !hasTenant {
		return append(out, "# tenant policy: none (the tenant has no policy modules)")
	}
	return append(append(out, "# tenant policy (data.tenant)"), traceLines(*tenant)...)
}

// traceLines leaves out Redo events: backtracking that tells an author
// nothing the Enter, Eval, Fail and Exit lines have not.
func traceLines(events []*topdown.Event) []string {
	events = slices.DeleteFunc(slices.Clone(events), func(e *topdown.Event) bool { return e.Op == topdown.RedoOp })
	var buf bytes.Buffer
	topdown.PrettyTraceWithLocation(&buf, events)
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if n := len(lines); n > maxExplainLines {
		lines = append(lines[:maxExplainLines], fmt.Sprintf("... %d more lines", n-maxExplainLines))
	}
	return lines
}
