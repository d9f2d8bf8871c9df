package main

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/policies"
)

func TestPolicyPush(t *testing.T) {
	dir := t.TempDir()
	guard := filepath.Join(dir, "guard.rego")
	guardTests := filepath.Join(dir, "guard_test.rego")
	require.NoError(t, os.WriteFile(guard, []byte("package tenant.guard\n"), 0o600))
	require.NoError(t, os.WriteFile(guardTests, []byte("package tenant.guard_test\n"), 0o600))

	runHTTPCases(t, map[string]httpCase{
		"with tests": {
			args: []string{"policy", "push", "guard", guard, "--tests", guardTests}, status: http.StatusOK,
			reply:  `{"name": "guard", "version": 3, "rego": "package tenant.guard\n", "active": true, "created_at": "2026-03-04T09:30:00Z"}`,
			method: http.MethodPut, path: "/api/v1/policies/guard",
			body: `{"rego": "package tenant.guard\n", "tests": "package tenant.guard_test\n"}`,
			out:  []string{"policy guard: version 3 activated\n"},
		},
		"without tests": {
			args: []string{"policy", "push", "guard", guard}, status: http.StatusOK,
			reply:  `{"name": "guard", "version": 4, "rego": "package tenant.guard\n", "active": true, "created_at": "2026-03-04T09:30:00Z"}`,
			method: http.MethodPut, path: "/api/v1/policies/guard",
			body: `{"rego": "package tenant.guard\n", "tests": ""}`,
			out:  []string{"policy guard: version 4 activated\n"},
		},
		"refused": {
			args: []string{"policy", "push", "guard", guard, "--tests", guardTests}, status: http.StatusUnprocessableEntity,
			reply: `{"status": 422, "code": "policy_invalid", "detail": "1 of the policy's tests failed",
				"errors": [{"field": "tests", "message": "guard_test.rego:3: data.tenant.guard_test.test_delete_denied: FAIL"}]}`,
			method: http.MethodPut, path: "/api/v1/policies/guard",
			body: `{"rego": "package tenant.guard\n", "tests": "package tenant.guard_test\n"}`,
			err: []string{"422 Unprocessable Entity (policy_invalid): 1 of the policy's tests failed",
				"\n  tests: guard_test.rego:3: data.tenant.guard_test.test_delete_denied: FAIL"},
		},
	})
}

// writeFiles makes a directory holding files (name to content).
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600))
	}
	return dir
}

// policy test runs the server's upload check: these are the sandbox's
// verdicts, not opa test's.
func TestPolicyTest(t *testing.T) {
	examples := t.TempDir()
	sub, err := fs.Sub(policies.Examples, "examples")
	require.NoError(t, err)
	require.NoError(t, os.CopyFS(examples, sub))
	// Files that name no module are skipped, and said to be.
	for name, text := range map[string]string{"Bad.rego": "package tenant.bad\n", "orphan_test.rego": "package tenant.orphan_test\n", "README.md": "not rego"} {
		require.NoError(t, os.WriteFile(filepath.Join(examples, name), []byte(text), 0o600))
	}

	cases := map[string]struct {
		dir     string
		out     []string
		stderr  []string
		err     error
		errText string
	}{
		"the examples pass": {
			dir:    examples,
			out:    []string{"ok: 3 modules, tests pass\n"},
			stderr: []string{`skipped Bad.rego: "Bad" cannot name a module`, "skipped orphan_test.rego: no module orphan.rego to test"},
		},
		"the sandbox refuses http.send": {
			dir: writeFiles(t, map[string]string{"fetch.rego": `package tenant.fetch

deny contains "x" if http.send({"method": "GET", "url": "http://127.0.0.1/"}).status_code == 200
`}),
			out: []string{"FAIL: the policy does not compile\n", "  rego: fetch.rego:3: rego_type_error: undefined function http.send"},
			err: errPolicyInvalid,
		},
		"a failing test is reported": {
			dir: writeFiles(t, map[string]string{
				"guard.rego": "package tenant.guard\n\ndeny contains \"no deletes\" if endswith(input.action, \".delete\")\n",
				"guard_test.rego": `package tenant.guard_test

import data.tenant.guard

test_delete_allowed if count(guard.deny) == 0 with input as {"action": "x.delete"}

test_read_allowed if count(guard.deny) == 0 with input as {"action": "x.read"}
`,
			}),
			out: []string{"FAIL: 1 of the policy's tests failed\n", "  tests: guard_test.rego:5: data.tenant.guard_test.test_delete_allowed: FAIL\n"},
			err: errPolicyInvalid,
		},
		"an upload's limits apply": {
			dir: writeFiles(t, map[string]string{
				"empty.rego": "  \n",
				"big.rego":   "package tenant.big\n# " + strings.Repeat("x", 70_000) + "\n",
			}),
			out: []string{"FAIL: the policy would not be activated\n", "  big.rego: is over 65536 bytes\n", "  empty.rego: is required\n"},
			err: errPolicyInvalid,
		},
		"no modules": {
			dir:     writeFiles(t, map[string]string{"x_test.rego": "package tenant.x_test\n"}),
			errText: "no policy modules in",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out, stderr, err := runCLI("policy", "test", tc.dir)
			for _, w := range tc.out {
				assert.Contains(t, out, w)
			}
			for _, w := range tc.stderr {
				assert.Contains(t, stderr, w)
			}
			switch {
			case tc.err != nil:
				assert.ErrorIs(t, err, tc.err)
				assert.ErrorIs(t, err, errReported) // main exits 1 without repeating it
			case tc.errText != "":
				assert.ErrorContains(t, err, tc.errText)
			default:
				assert.NoError(t, err)
			}
		})
	}
}

// list, rollback and delete act on the token's own tenant, or with
// --tenant on that tenant's as an operator, whose changes carry a reason.
func TestPolicyManagementCommands(t *testing.T) {
	const list = `{"items": [{"name": "guard", "version": 3, "rego": "package tenant.guard\n", "active": true,
		"created_at": "2026-03-04T09:30:00Z", "created_by": "7d1c"}]}`
	const module = `{"name": "guard", "version": 2, "rego": "package tenant.guard\n", "active": true, "created_at": "2026-03-04T09:30:00Z"}`
	runHTTPCases(t, map[string]httpCase{
		"list": {
			args: []string{"policy", "list"}, status: http.StatusOK, reply: list,
			method: http.MethodGet, path: "/api/v1/policies",
			out: []string{"NAME", "guard  3        2026-03-04T09:30:00Z  7d1c"},
		},
		"list a tenant's": {
			args: []string{"policy", "list", "--tenant", "acme"}, status: http.StatusOK, reply: `{"items": []}`,
			method: http.MethodGet, path: "/api/v1/tenants/acme/policies",
			out: []string{"no policy modules: the base policy alone decides"},
		},
		"rollback": {
			args: []string{"policy", "rollback", "guard", "2"}, status: http.StatusOK, reply: module,
			method: http.MethodPost, path: "/api/v1/policies/guard/rollback", body: `{"version": 2}`,
			out: []string{"policy guard: version 2 activated\n"},
		},
		"break-glass rollback": {
			args: []string{"policy", "rollback", "guard", "2", "--tenant", "acme", "--reason", "INC-42"}, status: http.StatusOK, reply: module,
			method: http.MethodPost, path: "/api/v1/tenants/acme/policies/guard/rollback", body: `{"version": 2, "reason": "INC-42"}`,
			out: []string{"policy guard: version 2 activated\n"},
		},
		"delete": {
			args: []string{"policy", "delete", "guard"}, status: http.StatusNoContent,
			method: http.MethodDelete, path: "/api/v1/policies/guard",
			out: []string{"policy guard: removed\n"},
		},
		"break-glass delete": {
			args: []string{"policy", "delete", "guard", "--tenant", "acme", "--reason", "INC-42: locked out"}, status: http.StatusNoContent,
			method: http.MethodDelete, path: "/api/v1/tenants/acme/policies/guard", body: `{"reason": "INC-42: locked out"}`,
			out: []string{"policy guard: removed\n"},
		},
		"refused": {
			args: []string{"policy", "delete", "guard"}, status: http.StatusUnprocessableEntity,
			reply:  `{"status": 422, "code": "policy_invalid", "detail": "the change would lock you out of the tenant's policy"}`,
			method: http.MethodDelete, path: "/api/v1/policies/guard",
			err: []string{"422 Unprocessable Entity (policy_invalid): the change would lock you out of the tenant's policy"},
		},
	})

	// Nothing is sent for a break-glass change without a reason, a reason
	// without --tenant, or a version that is not one.
	for _, args := range [][]string{
		{"policy", "delete", "guard", "--tenant", "acme"},
		{"policy", "rollback", "guard", "2", "--tenant", "acme"},
		{"policy", "delete", "guard", "--reason", "why"},
		{"policy", "rollback", "guard", "two"},
		{"policy", "rollback", "guard", "0"},
	} {
		srv, got := fakeServer(t, http.StatusOK, module)
		_, _, err := runCLI(append(args, "--server", srv.URL, "--token", "tok")...)
		assert.Error(t, err, "%v", args)
		assert.Empty(t, got.method, "%v: no request", args)
	}
}
