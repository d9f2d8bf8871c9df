package main

import (
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/api/model"
)

const accountsPath = "/api/v1/service-accounts"

func accountPath(id string) string { return accountsPath + "/" + url.PathEscape(id) }

func newServiceAccountsCommand() *cobra.Command {
	return group("service-accounts", "Create, change and delete the tenant's service accounts (tenant admin)",
		`Service accounts are non-human principals of the tenant: machines that call the
API with an API key (atrium keys) instead of a password. They hold roles like
users do.`,
		newAccountsListCommand(), newAccountsCreateCommand(), newAccountsShowCommand(), newAccountsUpdateCommand(),
		newAccountsDeleteCommand())
}

func printAccount(cmd *cobra.Command, o *output, a model.ServiceAccountResponse) error {
	return o.print(cmd.OutOrStdout(), a, func(w *tabwriter.Writer) {
		cells(w, "ID:", a.ID.String())
		cells(w, "NAME:", a.Name)
		cells(w, "DESCRIPTION:", or(a.Description, "-"))
		cells(w, "ROLES:", list(a.Roles))
		cells(w, "CREATED:", ts(a.CreatedAt))
	})
}

func newAccountsListCommand() *cobra.Command {
	var r remote
	var o output
	var p page
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the tenant's service accounts",
		Example: `  atrium service-accounts list --all`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pg, err := fetch[model.ServiceAccountResponse](cmd.Context(), &r, p, accountsPath, nil)
			if err != nil {
				return err
			}
			return printPage(cmd, &o, pg, []string{"ID", "NAME", "ROLES", "CREATED"}, func(a model.ServiceAccountResponse) []string {
				return []string{a.ID.String(), a.Name, list(a.Roles), ts(a.CreatedAt)}
			})
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	p.addFlags(cmd)
	return cmd
}

func newAccountsCreateCommand() *cobra.Command {
	var r remote
	var o output
	var in model.CreateServiceAccountRequest
	cmd := &cobra.Command{
		Use:     "create NAME [--description TEXT] [--role ROLE]...",
		Short:   "Create a service account",
		Example: `  atrium service-accounts create ci --role member --description "The CI pipeline"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Name = args[0]
			var a model.ServiceAccountResponse
			if err := r.call(cmd.Context(), http.MethodPost, accountsPath, in, &a); err != nil {
				return err
			}
			return printAccount(cmd, &o, a)
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	cmd.Flags().StringVar(&in.Description, "description", "", "what the account is for")
	cmd.Flags().StringSliceVar(&in.Roles, "role", nil, "a role to give (repeatable, or comma-separated)")
	return cmd
}

func newAccountsShowCommand() *cobra.Command {
	var r remote
	var o output
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show a service account",
		Example: `  atrium service-accounts show 0190c3a2-...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var a model.ServiceAccountResponse
			if err := r.call(cmd.Context(), http.MethodGet, accountPath(args[0]), nil, &a); err != nil {
				return err
			}
			return printAccount(cmd, &o, a)
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	return cmd
}

func newAccountsUpdateCommand() *cobra.Command {
	var r remote
	var o output
	var name, desc string
	var roles []string
	cmd := &cobra.Command{
		Use:     "update ID [--name NAME] [--description TEXT] [--roles A,B]",
		Short:   "Change a service account; new roles apply to its next request",
		Example: `  atrium service-accounts update 0190c3a2-... --roles viewer`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in model.UpdateServiceAccountRequest
			f := cmd.Flags()
			if f.Changed("name") {
				in.Name = &name
			}
			if f.Changed("description") {
				in.Description = &desc
			}
			if f.Changed("roles") {
				rs := append([]string{}, roles...)
				in.Roles = &rs
			}
			if in.Name == nil && in.Description == nil && in.Roles == nil {
				return usagef("nothing to change: give --name, --description or --roles")
			}
			var a model.ServiceAccountResponse
			if err := r.call(cmd.Context(), http.MethodPatch, accountPath(args[0]), in, &a); err != nil {
				return err
			}
			return printAccount(cmd, &o, a)
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the new name")
	cmd.Flags().StringVar(&desc, "description", "", "the new description")
	cmd.Flags().StringSliceVar(&roles, "roles", nil, "the roles from now on (comma-separated; replaces them)")
	return cmd
}

func newAccountsDeleteCommand() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:     "delete ID",
		Short:   "Delete a service account and its keys",
		Example: `  atrium service-accounts delete 0190c3a2-...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.call(cmd.Context(), http.MethodDelete, accountPath(args[0]), nil, nil); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "service account %s: deleted\n", args[0])
			return err
		},
	}
	r.addFlags(cmd, asTenant)
	return cmd
}

func newKeysCommand() *cobra.Command {
	return group("keys", "Issue, list and revoke a service account's API keys (tenant admin)",
		`An API key authenticates a service account (Authorization: Bearer KEY). Its
secret is shown once, when it is issued; the server keeps only a hash.`,
		newKeysCreateCommand(), newKeysListCommand(), newKeysRevokeCommand())
}

func newKeysCreateCommand() *cobra.Command {
	var r remote
	var o output
	var name, expires string
	cmd := &cobra.Command{
		Use:   "create ACCOUNT_ID --name NAME [--expires 720h | --expires 2027-01-01T00:00:00Z]",
		Short: "Issue an API key; its secret is printed this once only",
		Example: `  atrium keys create 0190c3a2-... --name deploy --expires 720h
  KEY=$(atrium keys create 0190c3a2-... --name ci -o json | jq -r .key)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := model.CreateKeyRequest{Name: name}
			if expires != "" {
				at, err := parseExpiry(expires)
				if err != nil {
					return err
				}
				in.ExpiresAt = &at
			}
			var k model.CreatedKeyResponse
			if err := r.call(cmd.Context(), http.MethodPost, accountPath(args[0])+"/keys", in, &k); err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), k, func(w *tabwriter.Writer) {
				cells(w, "ID:", k.ID.String())
				cells(w, "NAME:", k.Name)
				cells(w, "PREFIX:", k.Prefix)
				cells(w, "EXPIRES:", tsp(k.ExpiresAt))
				cells(w, "KEY:", k.Key)
				fmt.Fprintln(w, "\nThe key is shown this once: keep it now.")
			})
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	cmd.Flags().StringVar(&name, "name", "", "what the key is for (required)")
	cmd.Flags().StringVar(&expires, "expires", "", "when the key stops working: a duration from now (720h) or an RFC 3339 time")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func parseExpiry(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, usagef("--expires %s: want a time in the future", s)
		}
		return time.Now().Add(d).UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usagef("--expires %q: want a duration (720h) or an RFC 3339 time", s)
	}
	return t, nil
}

func newKeysListCommand() *cobra.Command {
	var r remote
	var o output
	cmd := &cobra.Command{
		Use:     "list ACCOUNT_ID",
		Short:   "List a service account's API keys (without their secrets)",
		Example: `  atrium keys list 0190c3a2-...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var l model.KeyList
			if err := r.call(cmd.Context(), http.MethodGet, accountPath(args[0])+"/keys", nil, &l); err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), l, func(w *tabwriter.Writer) {
				cells(w, "ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED")
				for _, k := range l.Items {
					cells(w, k.ID.String(), k.Name, k.Prefix, ts(k.CreatedAt), tsp(k.ExpiresAt), tsp(k.LastUsedAt), tsp(k.RevokedAt))
				}
			})
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	return cmd
}

func newKeysRevokeCommand() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:     "revoke ACCOUNT_ID KEY_ID",
		Short:   "Revoke an API key, at once on every replica",
		Example: `  atrium keys revoke 0190c3a2-... 0190c3b7-...`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.call(cmd.Context(), http.MethodDelete, accountPath(args[0])+"/keys/"+url.PathEscape(args[1]), nil, nil); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "key %s: revoked\n", args[1])
			return err
		},
	}
	r.addFlags(cmd, asTenant)
	return cmd
}
