package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/api/model"
)

// errBroken makes the process exit 1 after a report of a broken chain.
var errBroken = fmt.Errorf("the audit chain is broken: %w", errReported)

func newAuditCommand() *cobra.Command {
	return group("audit", "Read and verify tenants' audit logs",
		`Every change and every decision in a tenant is recorded in its audit log, a
hash chain with signed checkpoints (docs/audit.md). A tenant admin reads their
own tenant's; an operator reads any tenant's with --tenant SLUG.`,
		newAuditListCommand(), newAuditVerifyCommand())
}

// auditPath is the tenant's own audit API, or with tenant an operator's.
func auditPath(tenant, rest string) string {
	if tenant == "" {
		return "/api/v1/audit" + rest
	}
	return "/api/v1/tenants/" + url.PathEscape(tenant) + "/audit" + rest
}

// byTenant is whose token: an operator's with --tenant, a tenant user's otherwise.
func byTenant(tenant *string) func() string {
	return func() string {
		if *tenant != "" {
			return asOperator
		}
		return asTenant
	}
}

func newAuditListCommand() *cobra.Command {
	var r remote
	var o output
	var p page
	var tenant, since, until string
	filters := map[string]*string{}
	cmd := &cobra.Command{
		Use:   "list [--tenant SLUG] [filters]",
		Short: "List audit records, newest first",
		Long: `list shows the tenant's audit records, newest first, filtered by actor, action,
outcome, resource and time. -o json or -o yaml include each record's details,
request id, address and hash-chain links.`,
		Example: `  atrium audit list --action identity.session.login --outcome deny
  atrium audit list --since 2026-03-01T00:00:00Z --all -o json
  atrium audit list --tenant acme --actor-email admin@acme.example   # an operator`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for name, v := range filters {
				if *v != "" {
					q.Set(name, *v)
				}
			}
			for name, v := range map[string]string{"since": since, "until": until} {
				if v == "" {
					continue
				}
				if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
					return usagef("--%s %q: want an RFC 3339 time, for example 2026-01-31T09:00:00Z", name, v)
				}
				q.Set(name, v)
			}
			pg, err := fetch[model.AuditRecord](cmd.Context(), &r, p, auditPath(tenant, ""), q)
			if err != nil {
				return err
			}
			return printPage(cmd, &o, pg, []string{"SEQ", "AT", "ACTOR", "ACTION", "RESOURCE", "OUTCOME"}, func(a model.AuditRecord) []string {
				seq := "-" // not sealed yet
				if a.Seq != nil {
					seq = strconv.FormatInt(*a.Seq, 10)
				}
				actor := a.Actor.Type
				if a.Actor.Email != "" {
					actor += ":" + a.Actor.Email
				} else if a.Actor.ID != "" {
					actor += ":" + a.Actor.ID
				}
				resource := "-"
				if a.Resource.Type != "" {
					resource = a.Resource.Type + "/" + or(a.Resource.ID, "-")
				}
				return []string{seq, ts(a.At), actor, a.Action, resource, a.Outcome}
			})
		},
	}
	r.addFlagsAs(cmd, byTenant(&tenant), "a tenant user's access token, or an operator's with --tenant")
	o.addFlag(cmd)
	p.addFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&tenant, "tenant", "", "the tenant's slug, with an operator's token")
	_ = cmd.RegisterFlagCompletionFunc("tenant", completeTenants)
	for name, usage := range map[string]string{
		"actor": "only records of this actor id", "actor_email": "only records of this actor email",
		"action": "only this action (e.g. identity.user.create)", "outcome": "only this outcome: success, deny or error",
		"resource_type": "only records on this resource type", "resource_id": "only records on this resource id",
	} {
		v := new(string)
		filters[name] = v
		fl.StringVar(v, flagName(name), "", usage)
	}
	_ = cmd.RegisterFlagCompletionFunc("outcome", cobra.FixedCompletions([]string{"success", "deny", "error"}, cobra.ShellCompDirectiveNoFileComp))
	fl.StringVar(&since, "since", "", "only records at or after this RFC 3339 time")
	fl.StringVar(&until, "until", "", "only records before this RFC 3339 time")
	return cmd
}

// flagName is a query parameter's flag: actor_email is --actor-email.
func flagName(param string) string {
	b := []byte(param)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

func newAuditVerifyCommand() *cobra.Command {
	var r remote
	var o output
	var tenant string
	cmd := &cobra.Command{
		Use:   "verify [--tenant SLUG]",
		Short: "Walk a tenant's audit hash chain and report the first broken record",
		Long: `verify asks atriumd to walk the tenant's audit chain from the first record to
its head and to check it against the signed checkpoints in the blob store.

With --tenant it uses an operator's token and names the tenant; without, the
token is a tenant admin's and the tenant is the token's. It exits 1 when the
chain is broken.`,
		Example: `  atrium audit verify
  atrium audit verify --tenant acme -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v model.AuditVerification
			if err := r.call(cmd.Context(), http.MethodGet, auditPath(tenant, "/verify"), nil, &v); err != nil {
				return err
			}
			err := o.print(cmd.OutOrStdout(), v, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "records checked:\t%d\ncheckpoints checked:\t%d\nnot yet sealed:\t%d\n",
					v.RecordsChecked, v.CheckpointsChecked, v.Unsealed)
				if !v.OK {
					fmt.Fprintf(w, "BROKEN at record %d: %s\n", v.FirstBrokenSeq, v.Problem)
				} else {
					fmt.Fprintln(w, "the chain is intact")
				}
			})
			if err == nil && !v.OK {
				return errBroken
			}
			return err
		},
	}
	r.addFlagsAs(cmd, byTenant(&tenant), "a tenant admin's access token, or an operator's with --tenant")
	o.addFlag(cmd)
	cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant's slug, with an operator's token")
	_ = cmd.RegisterFlagCompletionFunc("tenant", completeTenants)
	return cmd
}
