package opa_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
)

// A memoised base result decides as the base's evaluation does: the second
// decision of each input comes from the memo, an explained one never does.
func TestMemoisedBaseDecidesAsEvaluated(t *testing.T) {
	e := newEngine(t, opa.Options{})
	src := &source{sets: map[string]policy.Set{"none": {Revision: 1}, "t1": {Revision: 1, Modules: realistic(t)}}}
	actions := []string{"projects.task.read", "projects.task.delete", "projects.project.update", "identity.user.read",
		"identity.user.create", "access.policy.write", "", "projects", "Projects.task.read", "projects.task.read.extra"}
	for _, tenant := range []string{"none", "t1"} {
		for _, action := range actions {
			req := benchInput()
			req.Action = action
			want, err := e.Evaluate(context.Background(), tenant, src, req, true)
			require.NoError(t, err)
			for range 2 {
				got, err := e.Evaluate(context.Background(), tenant, src, req, false)
				require.NoError(t, err)
				require.Equal(t, want.Allow, got.Allow, "%s %q", tenant, action)
				require.Equal(t, want.Reasons, got.Reasons, "%s %q", tenant, action)
			}
		}
	}
}
