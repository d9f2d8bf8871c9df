package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// policyTarget says whose policy a command acts on: the token's own tenant
// (a tenant admin's), or --tenant SLUG's (an operator's break glass, which
// needs a --reason for every change: the tenant's audit log keeps it).
type policyTarget struct {
	remote
	tenant, reason string
}

func (p *policyTarget) addFlags(cmd *cobra.Command, changes bool) {
	p.remote.addFlags(cmd, "a tenant admin's access token, or an operator's with --tenant")
	cmd.Flags().StringVar(&p.tenant, "tenant", "", "act on this tenant's policy as a platform operator (break glass)")
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
		return nil, errors.New("--reason goes with --tenant: a tenant admin's changes are audited as theirs")
	case p.tenant != "" && p.reason == "":
		return nil, errors.New("--reason is required with --tenant: it goes into the tenant's audit log")
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
	cmd := &cobra.Command{
		Use:   "list [--tenant SLUG]",
		Short: "List a tenant's policy modules, the active version of each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list struct {
				Items []struct {
					Name      string    `json:"name"`
					Version   int       `json:"version"`
					CreatedAt time.Time `json:"created_at"`
					CreatedBy string    `json:"created_by"`
				} `json:"items"`
			}
			if err := p.call(cmd.Context(), http.MethodGet, p.path(""), nil, &list); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(list.Items) == 0 {
				_, err := fmt.Fprintln(out, "no policy modules: the base policy alone decides")
				return err
			}
			w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tVERSION\tCREATED\tBY")
			for _, m := range list.Items {
				by := m.CreatedBy
				if by == "" {
					by = "-"
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", m.Name, m.Version, m.CreatedAt.UTC().Format(time.RFC3339), by)
			}
			return w.Flush()
		},
	}
	p.addFlags(cmd, false)
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
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			version, err := strconv.Atoi(args[1])
			if err != nil || version < 1 {
				return fmt.Errorf("VERSION %q: want a version number", args[1])
			}
			in, err := p.body(map[string]any{"version": version})
			if err != nil {
				return err
			}
			var m struct {
				Name    string `json:"name"`
				Version int    `json:"version"`
			}
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
		Args: cobra.ExactArgs(1),
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
