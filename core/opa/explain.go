package opa

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/topdown"
)

// maxExplainLines bounds each part of an explanation, and maxExplainLine
// each line: a trace of a large policy runs to thousands of lines, and a
// dry run answers a person. Only the events shown are rendered: one
// evaluation to its deadline can leave a million.
const (
	maxExplainLines = 400
	maxExplainLine  = 1 << 10
)

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
	more := len(events) - maxExplainLines
	if more > 0 {
		events = events[:maxExplainLines]
	}
	var buf bytes.Buffer
	topdown.PrettyTraceWithLocation(&buf, events) // one line per event
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	for i, l := range lines {
		if len(l) > maxExplainLine {
			lines[i] = strings.ToValidUTF8(l[:maxExplainLine], "") + " ..."
		}
	}
	if more > 0 {
		lines = append(lines, fmt.Sprintf("... %d more lines", more))
	}
	return lines
}
