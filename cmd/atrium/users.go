package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/api/model"
)

func newUsersCommand() *cobra.Command {
	return group("users", "Create, change, disable and delete the tenant's users (tenant admin)",
		`The tenant's user administration. It uses the tenant user's sign-in (atrium login
--tenant SLUG), --token or ATRIUM_TOKEN; the token's tenant is the one acted on.
A user is named by its id or by its email.`,
		newUsersListCommand(), newUsersCreateCommand(), newUsersShowCommand(), newUsersUpdateCommand(),
		newUsersRolesCommand(), newUsersDeleteCommand())
}

func printUser(cmd *cobra.Command, o *output, u model.UserResponse) error {
	return o.print(cmd.OutOrStdout(), u, func(w *tabwriter.Writer) {
		cells(w, "ID:", u.ID.String())
		cells(w, "EMAIL:", u.Email)
		cells(w, "NAME:", or(u.Name, "-"))
		cells(w, "STATUS:", u.Status)
		cells(w, "ROLES:", list(u.Roles))
		cells(w, "CREATED:", ts(u.CreatedAt))
	})
}

// userPath is the path of the user ref names: an id as is, an email
// looked up in the tenant's users.
func userPath(ctx context.Context, r *remote, ref string) (string, error) {
	if !strings.Contains(ref, "@") {
		return "/api/v1/users/" + url.PathEscape(ref), nil
	}
	pg, err := fetch[model.UserResponse](ctx, r, page{}, "/api/v1/users", url.Values{"email": {ref}})
	if err != nil {
		return "", err
	}
	for _, u := range pg.Items {
		if strings.EqualFold(u.Email, ref) {
			return "/api/v1/users/" + u.ID.String(), nil
		}
	}
	return "", fmt.Errorf("no user %s in the tenant", ref)
}

func newUsersListCommand() *cobra.Command {
	var r remote
	var o output
	var p page
	var status, email string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's users",
		Example: `  atrium users list
  atrium users list --status disabled --all -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if status != "" {
				q.Set("status", status)
			}
			if email != "" {
				q.Set("email", email)
			}
			pg, err := fetch[model.UserResponse](cmd.Context(), &r, p, "/api/v1/users", q)
			if err != nil {
				return err
			}
			return printPage(cmd, &o, pg, []string{"ID", "EMAIL", "NAME", "STATUS", "ROLES", "CREATED"}, func(u model.UserResponse) []string {
				return []string{u.ID.String(), u.Email, or(u.Name, "-"), u.Status, list(u.Roles), ts(u.CreatedAt)}
			})
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	p.addFlags(cmd)
	cmd.Flags().StringVar(&status, "status", "", "only users in this status: active or disabled")
	cmd.Flags().StringVar(&email, "email", "", "only the user with this email")
	return cmd
}

func newUsersCreateCommand() *cobra.Command {
	var r remote
	var o output
	var in model.CreateUserRequest
	cmd := &cobra.Command{
		Use:   "create EMAIL [--name NAME] [--role ROLE]...",
		Short: "Create a user",
		Long: `create adds a user to the tenant. The password comes from --password,
ATRIUM_USER_PASSWORD or a prompt; without --role the user has the tenant's
default role.`,
		Example: `  atrium users create ana@acme.example --name "Ana" --role member`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Email = args[0]
			if in.Password == "" {
				var err error
				if in.Password, err = prompt(cmd, "Password for "+in.Email+": ", true); err != nil {
					return err
				}
			}
			var u model.UserResponse
			if err := r.call(cmd.Context(), http.MethodPost, "/api/v1/users", in, &u); err != nil {
				return err
			}
			return printUser(cmd, &o, u)
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	cmd.Flags().StringVar(&in.Name, "name", "", "the user's display name")
	cmd.Flags().StringVar(&in.Password, "password", os.Getenv("ATRIUM_USER_PASSWORD"), "the user's password (ATRIUM_USER_PASSWORD; prompted for when absent)")
	cmd.Flags().StringSliceVar(&in.Roles, "role", nil, "a role to give (repeatable, or comma-separated)")
	return cmd
}

func newUsersShowCommand() *cobra.Command {
	var r remote
	var o output
	cmd := &cobra.Command{
		Use:     "show (ID | EMAIL)",
		Short:   "Show a user",
		Example: `  atrium users show ana@acme.example`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := userPath(cmd.Context(), &r, args[0])
			if err != nil {
				return err
			}
			var u model.UserResponse
			if err := r.call(cmd.Context(), http.MethodGet, path, nil, &u); err != nil {
				return err
			}
			return printUser(cmd, &o, u)
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	return cmd
}

func newUsersUpdateCommand() *cobra.Command {
	var r remote
	var o output
	var name, status string
	var newPassword bool
	cmd := &cobra.Command{
		Use:   "update (ID | EMAIL) [--name NAME] [--status active|disabled] [--new-password]",
		Short: "Change a user's name, status or password",
		Long: `update changes what its flags name. Disabling a user, or setting a new
password (prompted for, or ATRIUM_USER_PASSWORD), revokes their tokens.`,
		Example: `  atrium users update ana@acme.example --status disabled
  atrium users update ana@acme.example --new-password`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in model.UpdateUserRequest
			f := cmd.Flags()
			if f.Changed("name") {
				in.Name = &name
			}
			if f.Changed("status") {
				in.Status = &status
			}
			if newPassword {
				pw := os.Getenv("ATRIUM_USER_PASSWORD")
				if pw == "" {
					var err error
					if pw, err = prompt(cmd, "New password: ", true); err != nil {
						return err
					}
				}
				in.Password = &pw
			}
			if in.Name == nil && in.Status == nil && in.Password == nil {
				return usagef("nothing to change: give --name, --status or --new-password")
			}
			path, err := userPath(cmd.Context(), &r, args[0])
			if err != nil {
				return err
			}
			var u model.UserResponse
			if err := r.call(cmd.Context(), http.MethodPatch, path, in, &u); err != nil {
				return err
			}
			return printUser(cmd, &o, u)
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the new display name")
	cmd.Flags().StringVar(&status, "status", "", "active or disabled")
	cmd.Flags().BoolVar(&newPassword, "new-password", false, "set a new password (prompted for, or ATRIUM_USER_PASSWORD)")
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions([]string{"active", "disabled"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newUsersRolesCommand() *cobra.Command {
	var r remote
	var o output
	cmd := &cobra.Command{
		Use:   "roles (ID | EMAIL) ROLE...",
		Short: "Replace a user's roles",
		Example: `  atrium users roles ana@acme.example admin
  atrium users roles ana@acme.example member auditor`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := userPath(cmd.Context(), &r, args[0])
			if err != nil {
				return err
			}
			var u model.UserResponse
			if err := r.call(cmd.Context(), http.MethodPut, path+"/roles", model.UserRolesRequest{Roles: args[1:]}, &u); err != nil {
				return err
			}
			return printUser(cmd, &o, u)
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	return cmd
}

func newUsersDeleteCommand() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:     "delete (ID | EMAIL)",
		Short:   "Delete a user",
		Example: `  atrium users delete ana@acme.example`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := userPath(cmd.Context(), &r, args[0])
			if err != nil {
				return err
			}
			if err := r.call(cmd.Context(), http.MethodDelete, path, nil, nil); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "user %s: deleted\n", args[0])
			return err
		},
	}
	r.addFlags(cmd, asTenant)
	return cmd
}

func newRolesCommand() *cobra.Command {
	return group("roles", "List, create, change and delete the tenant's roles (tenant admin)",
		`Roles grant permissions in the tenant. Built-in roles (admin, member, viewer)
cannot be changed or deleted; custom roles can. "roles permissions" lists
every permission there is to grant.`,
		newRolesListCommand(), newRoleWriteCommand(true), newRolesShowCommand(), newRoleWriteCommand(false),
		newRolesDeleteCommand(), newPermissionsCommand())
}

func printRole(cmd *cobra.Command, o *output, ro model.RoleResponse) error {
	return o.print(cmd.OutOrStdout(), ro, func(w *tabwriter.Writer) {
		cells(w, "NAME:", ro.Name)
		cells(w, "DESCRIPTION:", or(ro.Description, "-"))
		cells(w, "BUILT-IN:", fmt.Sprint(ro.Builtin))
		cells(w, "PERMISSIONS:", list(ro.Permissions))
	})
}

func newRolesListCommand() *cobra.Command {
	var r remote
	var o output
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List roles with their effective permissions",
		Example: `  atrium roles list -o yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var l model.RoleList
			if err := r.call(cmd.Context(), http.MethodGet, "/api/v1/roles", nil, &l); err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), l, func(w *tabwriter.Writer) {
				cells(w, "NAME", "BUILT-IN", "PERMISSIONS", "DESCRIPTION")
				for _, ro := range l.Items {
					cells(w, ro.Name, fmt.Sprint(ro.Builtin), fmt.Sprint(len(ro.Permissions)), or(ro.Description, "-"))
				}
			})
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	return cmd
}

// newRoleWriteCommand is roles create (POST, refused if the role exists)
// or roles update (PUT: replaces a custom role's description and
// permissions, or creates it).
func newRoleWriteCommand(create bool) *cobra.Command {
	var r remote
	var o output
	var desc string
	var perms []string
	cmd := &cobra.Command{
		Use:     "create NAME --permission PERM... [--description TEXT]",
		Short:   "Create a custom role",
		Example: `  atrium roles create auditor --permission audit.log.read --description "Reads the audit log"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(perms) == 0 {
				return usagef("give at least one --permission (atrium roles permissions lists them)")
			}
			var ro model.RoleResponse
			var err error
			if create {
				err = r.call(cmd.Context(), http.MethodPost, "/api/v1/roles", model.CreateRoleRequest{Name: args[0], Description: desc, Permissions: perms}, &ro)
			} else {
				err = r.call(cmd.Context(), http.MethodPut, "/api/v1/roles/"+url.PathEscape(args[0]), model.PutRoleRequest{Description: desc, Permissions: perms}, &ro)
			}
			if err != nil {
				return err
			}
			return printRole(cmd, &o, ro)
		},
	}
	if !create {
		cmd.Use = "update NAME --permission PERM... [--description TEXT]"
		cmd.Short = "Replace a custom role's permissions and description (or create it)"
		cmd.Example = `  atrium roles update auditor --permission audit.log.read,access.policy.read`
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	cmd.Flags().StringVar(&desc, "description", "", "what the role is for")
	cmd.Flags().StringSliceVar(&perms, "permission", nil, "a permission the role grants (repeatable, or comma-separated)")
	return cmd
}

func newRolesShowCommand() *cobra.Command {
	var r remote
	var o output
	cmd := &cobra.Command{
		Use:     "show NAME",
		Short:   "Show a role",
		Example: `  atrium roles show member`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ro model.RoleResponse
			if err := r.call(cmd.Context(), http.MethodGet, "/api/v1/roles/"+url.PathEscape(args[0]), nil, &ro); err != nil {
				return err
			}
			return printRole(cmd, &o, ro)
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	return cmd
}

func newRolesDeleteCommand() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a custom role",
		Example: `  atrium roles delete auditor`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.call(cmd.Context(), http.MethodDelete, "/api/v1/roles/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "role %s: deleted\n", args[0])
			return err
		},
	}
	r.addFlags(cmd, asTenant)
	return cmd
}

func newPermissionsCommand() *cobra.Command {
	var r remote
	var o output
	cmd := &cobra.Command{
		Use:     "permissions",
		Short:   "List every permission: the core's and the plugins'",
		Example: `  atrium roles permissions`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var l model.PermissionList
			if err := r.call(cmd.Context(), http.MethodGet, "/api/v1/permissions", nil, &l); err != nil {
				return err
			}
			return o.print(cmd.OutOrStdout(), l, func(w *tabwriter.Writer) {
				cells(w, "NAME", "OWNER", "DESCRIPTION")
				for _, p := range l.Items {
					cells(w, p.Name, p.Owner, p.Description)
				}
			})
		},
	}
	r.addFlags(cmd, asTenant)
	o.addFlag(cmd)
	return cmd
}
