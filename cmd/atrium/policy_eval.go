package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/api/model"
)

// errDenied makes `policy eval` exit 1 after printing a denial, so that a
// script can test a decision with the exit code alone (--allow-exit-zero
// turns that off).
var errDenied = fmt.Errorf("denied: %w", errReported)

func newPolicyVersionsCommand() *cobra.Command {
	var r remote
	var o output
	cmd := &cobra.Command{
		Use:   "versions NAME",
		Short: "List every version of a policy module, newest first",
		Long: `versions lists every version of the tenant's module NAME: which is active, when
and by whom each was uploaded. -o json or -o yaml include each version's Rego
and tests; "policy rollback NAME VERSION" re-activates one.`,
		Example: `  atrium policy versions guard
  atrium policy versions guard -o json | jq -r '.items[] | select(.version == 2) | .rego'`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completePolicies(nil),
		RunE: func(cmd *cobra.Command, args []string) error {
			var l model.PolicyList
			if err := r.call(cmd.Context(), http.MethodGet, "/api/v1/policies/"+url.PathEscape(args[0])+"/versions", nil, &l); err != nil {
				return err
			}
			if l.Items == nil {
				l.Items = []model.PolicyModule{}
			}
			return o.print(cmd.OutOrStdout(), l, func(w *tabwriter.Writer) {
				cells(w, "VERSION", "ACTIVE", "CREATED", "BY")
				for _, m := range l.Items {
					active := ""
					if m.Active {
						active = "*"
					}
					cells(w, strconv.Itoa(m.Version), active, ts(m.CreatedAt), or(m.CreatedBy, "-"))
				}
			})
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	return cmd
}

func newPolicyEvalCommand() *cobra.Command {
	var r remote
	var o output
	var in model.EvaluateRequest
	var subject model.EvaluateSubject
	var res model.EvaluateResource
	var subjectAttrs, resourceAttrs string
	var asSubject, allowZero bool
	cmd := &cobra.Command{
		Use:   "eval ACTION [--resource-type T --resource-id ID --owner ID] [--role R...]",
		Short: "Dry-run a decision of the tenant's policy: allow or deny, and why",
		Long: `eval asks the tenant's active policy what it would decide for ACTION (a
permission such as projects.project.delete) on a resource, without doing
anything. The subject is you, unless --role, --subject-id, --subject-email or
--subject-attrs describe another (whose permissions come from its roles).
--explain adds the policy's trace.

It exits 0 when the decision is allow and 1 when it is deny (unless
--allow-exit-zero), so scripts can test policies with it.`,
		Example: `  atrium policy eval projects.project.delete --resource-type project --resource-id p1 --owner u1
  atrium policy eval projects.project.read --role viewer --subject-attrs '{"department": "sales"}' --explain`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Action = args[0]
			f := cmd.Flags()
			if subjectAttrs != "" {
				if err := json.Unmarshal([]byte(subjectAttrs), &subject.Attributes); err != nil {
					return usagef("--subject-attrs: want a JSON object: %v", err)
				}
			}
			if resourceAttrs != "" {
				if err := json.Unmarshal([]byte(resourceAttrs), &res.Attributes); err != nil {
					return usagef("--resource-attrs: want a JSON object: %v", err)
				}
			}
			if asSubject = f.Changed("role") || subject.ID != "" || subject.Email != "" || subject.Attributes != nil; asSubject {
				if subject.Roles == nil {
					subject.Roles = []string{}
				}
				in.Subject = &subject
			}
			if res.Type != "" || res.ID != "" || res.OwnerID != "" || res.Attributes != nil {
				in.Resource = &res
			}
			var d model.EvaluateResponse
			if err := r.call(cmd.Context(), http.MethodPost, "/api/v1/policies/evaluate", in, &d); err != nil {
				return err
			}
			if d.Reasons == nil {
				d.Reasons = []string{}
			}
			err := o.print(cmd.OutOrStdout(), d, func(w *tabwriter.Writer) {
				decision := "deny"
				if d.Allow {
					decision = "allow"
				}
				cells(w, "DECISION:", decision)
				cells(w, "POLICY VERSION:", or(d.PolicyVersion, "-"))
				for _, reason := range d.Reasons {
					cells(w, "REASON:", reason)
				}
				if len(d.Explanation) > 0 {
					fmt.Fprintln(w, "EXPLANATION:")
					for _, l := range d.Explanation {
						fmt.Fprintln(w, "  "+l)
					}
				}
			})
			if err == nil && !d.Allow && !allowZero {
				return errDenied
			}
			return err
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&res.Type, "resource-type", "", "the resource's type")
	fl.StringVar(&res.ID, "resource-id", "", "the resource's id")
	fl.StringVar(&res.OwnerID, "owner", "", "the resource owner's user id")
	fl.StringVar(&resourceAttrs, "resource-attrs", "", "the resource's attributes, a JSON object")
	fl.StringSliceVar(&subject.Roles, "role", nil, "evaluate for a subject with this role instead of you (repeatable)")
	fl.StringVar(&subject.ID, "subject-id", "", "the hypothetical subject's id")
	fl.StringVar(&subject.Email, "subject-email", "", "the hypothetical subject's email")
	fl.StringVar(&subjectAttrs, "subject-attrs", "", "the hypothetical subject's attributes, a JSON object")
	fl.BoolVar(&in.Explain, "explain", false, "include the policy's evaluation trace")
	fl.BoolVar(&allowZero, "allow-exit-zero", false, "exit 0 on a deny too")
	return cmd
}

// completePolicies completes a module name of the tenant (or of --tenant's,
// as an operator) from the server, with the stored sign-in.
func completePolicies(p *policyTarget) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		t := policyTarget{remote: remote{server: flagOr(cmd, "server", envOr("ATRIUM_SERVER", "http://127.0.0.1:8080")), token: flagOr(cmd, "token", "")}}
		if p != nil {
			t.tenant = p.tenant
		}
		t.as = func() string {
			if t.tenant != "" {
				return asOperator
			}
			return asTenant
		}
		var l model.PolicyList
		ctx := cmd.Context()
		if ctx == nil || t.call(ctx, http.MethodGet, t.path(""), nil, &l) != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]string, 0, len(l.Items))
		for _, m := range l.Items {
			names = append(names, m.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
