package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/api/model"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
)

// errPolicyInvalid makes the process exit 1 after the sandbox's refusal.
var errPolicyInvalid = fmt.Errorf("the policy was refused: %w", errReported)

func newPolicyCommand() *cobra.Command {
	return group("policy", "Test tenant policies offline, push, list, evaluate, roll back and remove them",
		`A tenant's policy is a set of Rego modules (docs/policies.md). test checks them
offline in the sandbox; the other commands act on the tenant of a tenant
admin's sign-in, or with --tenant on any tenant as an operator (break glass).`,
		newPolicyTestCommand(), newPolicyPushCommand(), newPolicyListCommand(), newPolicyVersionsCommand(),
		newPolicyEvalCommand(), newPolicyRollbackCommand(), newPolicyDeleteCommand())
}

func newPolicyTestCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "test DIR",
		Short: "Compile DIR's modules in the tenant sandbox and run their tests, as an upload does",
		Long: `test reads every NAME.rego in DIR as the module NAME, with NAME_test.rego as
its tests, and checks them the way atriumd checks an upload: compiled in the
tenant sandbox (which refuses http.send, time.now_ns and the like, and data
outside data.tenant), then every module's tests run. No server is needed.

DIR stands for the tenant's whole policy, as an upload is checked with the
tenant's other active modules. Unlike "opa test", this applies the sandbox:
what passes here is accepted on upload by an atriumd of the same version.

Files whose names cannot name a module, and tests without their module, are
skipped with a note on stderr. It exits 1 when the policy is refused.`,
		Example: `  atrium policy test ./policies`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			modules, err := readModules(args[0], cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			engine, err := opa.New(opa.Options{}) // the server's defaults: same base, same limits
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			err = policy.CheckSet(modules) // the upload's limits, then the sandbox
			if err == nil {
				err = engine.Check(cmd.Context(), modules)
			}
			var refused *kernel.Error // policy_invalid: the messages are in its fields
			if errors.Is(err, policy.ErrInvalid) && errors.As(err, &refused) {
				fmt.Fprintf(out, "FAIL: %s\n", refused.Message)
				for _, f := range refused.Fields {
					fmt.Fprintf(out, "  %s: %s\n", f.Field, f.Message)
				}
				return errPolicyInvalid
			}
			if err != nil {
				return err
			}
			tests := "tests pass"
			if !slices.ContainsFunc(modules, func(m policy.Module) bool { return strings.TrimSpace(m.Tests) != "" }) {
				tests = "no tests"
			}
			plural := "s"
			if len(modules) == 1 {
				plural = ""
			}
			_, err = fmt.Fprintf(out, "ok: %d module%s, %s\n", len(modules), plural, tests)
			return err
		},
	}
}

// readModules maps DIR's files to modules as the server names them:
// policy.FileName(name) is the module's Rego, policy.TestFileName(name) its
// tests, and name must be valid (policy.ValidName). Anything else ending in
// .rego is skipped with a note to warn, so that no file is left out silently.
func readModules(dir string, warn io.Writer) ([]policy.Module, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	rego, tests := map[string]string{}, map[string]string{}
	for _, e := range entries {
		file := e.Name()
		if e.IsDir() || !strings.HasSuffix(file, ".rego") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return nil, err
		}
		// NAME_test.rego is NAME's tests (policy.TestFileName), as for opa
		// test; so a module whose own name ends in _test cannot be read here.
		if name, ok := strings.CutSuffix(file, "_test.rego"); ok {
			tests[name] = string(b)
		} else {
			rego[strings.TrimSuffix(file, ".rego")] = string(b)
		}
	}
	var modules []policy.Module // sorted by name, as the server compiles them
	for _, name := range slices.Sorted(maps.Keys(rego)) {
		if !policy.ValidName(name) {
			fmt.Fprintf(warn, "skipped %s: %q cannot name a module (^[a-z][a-z0-9_-]{0,62}$)\n", policy.FileName(name), name)
			continue
		}
		modules = append(modules, policy.Module{Name: name, Rego: rego[name], Tests: tests[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(tests)) {
		switch _, ok := rego[name]; {
		case !policy.ValidName(name):
			fmt.Fprintf(warn, "skipped %s: %q cannot name a module\n", policy.TestFileName(name), name)
		case !ok:
			fmt.Fprintf(warn, "skipped %s: no module %s to test\n", policy.TestFileName(name), policy.FileName(name))
		}
	}
	if len(modules) == 0 {
		return nil, fmt.Errorf("no policy modules in %s", dir)
	}
	return modules, nil
}

func newPolicyPushCommand() *cobra.Command {
	var r remote
	var shadow bool
	var testsFile string
	cmd := &cobra.Command{
		Use:   "push NAME FILE [--tests TESTFILE]",
		Short: "Upload FILE as a new version of the tenant's module NAME and activate it",
		Long: `push uploads FILE (and TESTFILE's tests) as a new version of the module NAME,
with a tenant admin's token. atriumd compiles it with the tenant's other
modules in the sandbox and runs all their tests; it activates the version only
when they pass, and otherwise answers 422 policy_invalid with the messages.`,
		Example: `  atrium policy push guard guard.rego --tests guard_test.rego`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			rego, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			in := model.PutPolicyRequest{Rego: string(rego)}
			if shadow {
				in.Mode = "shadow"
			}
			if testsFile != "" {
				tests, err := os.ReadFile(testsFile)
				if err != nil {
					return err
				}
				in.Tests = string(tests)
			}
			var m model.PolicyModule
			if err := r.call(cmd.Context(), http.MethodPut, "/api/v1/policies/"+url.PathEscape(name), in, &m); err != nil {
				return err
			}
			if shadow {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "policy %s: version %d stored as the shadow version (not active)\n", m.Name, m.Version)
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "policy %s: version %d activated\n", m.Name, m.Version)
			return err
		},
	}
	r.addFlags(cmd, asTenant)
	cmd.Flags().BoolVar(&shadow, "shadow", false, "store it as the tenant's shadow version, decided beside the active one without effect (docs/policies.md)")
	cmd.Flags().StringVar(&testsFile, "tests", "", "a file of Rego tests for the module")
	return cmd
}
