package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/api/model"
)

// policyTarget says whose policy a command acts on: the token's own tenant
// (a tenant admin's), or --tenant SLUG's (an operator's break glass, which
// needs a --reason for every change: the tenant's audit log keeps it).
type policyTarget struct {
	remote
	tenant, reason string
}

func (p *policyTarget) addFlags(cmd *cobra.Command, changes bool) {
	p.addFlagsAs(cmd, func() string {
		if p.tenant != "" {
			return asOperator
		}
		return asTenant
	}, "a tenant admin's access token, or an operator's with --tenant")
	cmd.Flags().StringVar(&p.tenant, "tenant", "", "act on this tenant's policy as a platform operator (break glass)")
	_ = cmd.RegisterFlagCompletionFunc("tenant", completeTenants)
	if changes {
		cmd.Flags().StringVar(&p.reason, "reason", "", "why, for the tenant's audit log (required with --tenant)")
	}
}

// path is the policy API's path for the target; body adds the reason to
// an operator's change, and refuses a change without one.
func (p *policyTarget) path(rest string) string {
	if p.tenant == "" {
		return "/api/v1/policies" + rest
	}
	return "/api/v1/tenants/" + url.PathEscape(p.tenant) + "/policies" + rest
}

func (p *policyTarget) body(in map[string]any) (map[string]any, error) {
	switch {
	case p.tenant == "" && p.reason != "":
		return nil, usagef("--reason goes with --tenant: a tenant admin's changes are audited as theirs")
	case p.tenant != "" && p.reason == "":
		return nil, usagef("--reason is required with --tenant: it goes into the tenant's audit log")
	case p.tenant != "":
		if in == nil {
			in = map[string]any{}
		}
		in["reason"] = p.reason
	}
	return in, nil
}

func newPolicyListCommand() *cobra.Command {
	var p policyTarget
	var o output
	cmd := &cobra.Command{
		Use:   "list [--tenant SLUG]",
		Short: "List a tenant's policy modules, the active version of each",
		Example: `  atrium policy list
  atrium policy list --tenant acme -o yaml   # an operator, any tenant`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list model.PolicyList
			if err := p.call(cmd.Context(), http.MethodGet, p.path(""), nil, &list); err != nil {
				return err
			}
			if list.Items == nil {
				list.Items = []model.PolicyModule{}
			}
			if o.format == formatTable && len(list.Items) == 0 {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "no policy modules: the base policy alone decides")
				return err
			}
			return o.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				cells(w, "NAME", "VERSION", "CREATED", "BY")
				for _, m := range list.Items {
					cells(w, m.Name, strconv.Itoa(m.Version), ts(m.CreatedAt), or(m.CreatedBy, "-"))
				}
			})
		},
	}
	p.addFlags(cmd, false)
	o.addFlag(cmd)
	return cmd
}

func newPolicyRollbackCommand() *cobra.Command {
	var p policyTarget
	cmd := &cobra.Command{
		Use:   "rollback NAME VERSION [--tenant SLUG --reason TEXT]",
		Short: "Activate an earlier version of a policy module",
		Long: `rollback re-activates VERSION of the module NAME, checked and tested again
first. With --tenant, an operator does it on that tenant's policy (break glass),
and --reason is recorded with it in the tenant's audit log.`,
		Example: `  atrium policy rollback guard 2
  atrium policy rollback guard 2 --tenant acme --reason "INC-42: admins locked out"`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completePolicies(&p),
		RunE: func(cmd *cobra.Command, args []string) error {
			version, err := strconv.Atoi(args[1])
			if err != nil || version < 1 {
				return usagef("VERSION %q: want a version number", args[1])
			}
			in, err := p.body(map[string]any{"version": version})
			if err != nil {
				return err
			}
			var m model.PolicyModule
			if err := p.call(cmd.Context(), http.MethodPost, p.path("/"+url.PathEscape(args[0])+"/rollback"), in, &m); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "policy %s: version %d activated\n", m.Name, m.Version)
			return err
		},
	}
	p.addFlags(cmd, true)
	return cmd
}

func newPolicyDeleteCommand() *cobra.Command {
	var p policyTarget
	cmd := &cobra.Command{
		Use:   "delete NAME [--tenant SLUG --reason TEXT]",
		Short: "Remove a policy module (its versions stay, for a rollback)",
		Long: `delete removes the module NAME from the tenant's policy. With --tenant, an
operator does it on that tenant's policy (break glass), and --reason is
recorded with it in the tenant's audit log.`,
		Example: `  atrium policy delete guard
  atrium policy delete guard --tenant acme --reason "INC-42: admins locked out"`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completePolicies(&p),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := p.body(nil)
			if err != nil {
				return err
			}
			var body any // none for a tenant admin's delete
			if in != nil {
				body = in
			}
			if err := p.call(cmd.Context(), http.MethodDelete, p.path("/"+url.PathEscape(args[0])), body, nil); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "policy %s: removed\n", args[0])
			return err
		},
	}
	p.addFlags(cmd, true)
	return cmd
}
