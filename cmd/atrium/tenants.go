package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/api/model"
)

func newTenantsCommand() *cobra.Command {
	return group("tenants", "Create, change, suspend, back up and delete tenants (operator)",
		`The platform operator's tenant commands. They use the operator's sign-in
(atrium login --operator), --token or ATRIUM_TOKEN.`,
		newTenantsListCommand(), newTenantsCreateCommand(), newTenantsShowCommand(), newTenantsUpdateCommand(),
		newTenantStatusCommand("suspend", "suspended", "Suspend a tenant: its users and keys are refused until it is resumed"),
		newTenantStatusCommand("resume", "active", "Resume a suspended tenant"),
		newTenantsDeleteCommand(), newTenantsBackupCommand(), newTenantsRestoreCommand())
}

func tenantPath(slug string) string { return "/api/v1/tenants/" + url.PathEscape(slug) }

func printTenant(cmd *cobra.Command, o *output, t model.TenantResponse) error {
	return o.print(cmd.OutOrStdout(), t, func(w *tabwriter.Writer) {
		settings, _ := json.Marshal(t.Settings)
		cells(w, "SLUG:", t.Slug)
		cells(w, "NAME:", t.Name)
		cells(w, "STATUS:", t.Status)
		cells(w, "ID:", t.ID.String())
		cells(w, "PLUGINS:", list(t.Plugins))
		cells(w, "SETTINGS:", string(settings))
		cells(w, "CREATED:", ts(t.CreatedAt))
		cells(w, "UPDATED:", ts(t.UpdatedAt))
	})
}

func newTenantsListCommand() *cobra.Command {
	var r remote
	var o output
	var p page
	var status, slug string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tenants, newest first",
		Example: `  atrium tenants list
  atrium tenants list --status suspended --all -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if status != "" {
				q.Set("status", status)
			}
			if slug != "" {
				q.Set("slug", slug)
			}
			pg, err := fetch[model.TenantResponse](cmd.Context(), &r, p, "/api/v1/tenants", q)
			if err != nil {
				return err
			}
			return printPage(cmd, &o, pg, []string{"SLUG", "NAME", "STATUS", "PLUGINS", "CREATED"}, func(t model.TenantResponse) []string {
				return []string{t.Slug, t.Name, t.Status, list(t.Plugins), ts(t.CreatedAt)}
			})
		},
	}
	r.addFlags(cmd, asOperator)
	o.addFlag(cmd)
	p.addFlags(cmd)
	cmd.Flags().StringVar(&status, "status", "", "only tenants in this status: active or suspended")
	cmd.Flags().StringVar(&slug, "slug", "", "only the tenant with this slug")
	return cmd
}

// settingFlags are repeated --setting KEY=VALUE flags; a VALUE that is JSON
// (a number, true, an object) is taken as such, anything else as a string.
func parseSettings(kvs []string) (map[string]any, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--setting %q: want KEY=VALUE", kv)
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			val = v
		}
		out[k] = val
	}
	return out, nil
}

func newTenantsCreateCommand() *cobra.Command {
	var r remote
	var o output
	var in model.CreateTenantRequest
	var settings []string
	cmd := &cobra.Command{
		Use:   "create SLUG --name NAME --admin-email EMAIL",
		Short: "Create a tenant with its schema, role and first admin",
		Long: `create provisions a tenant: its database schema and role, the core's and its
plugins' migrations, and its first admin user. The admin's password comes from
--admin-password, ATRIUM_ADMIN_PASSWORD or a prompt.`,
		Example: `  atrium tenants create acme --name "Acme Inc" --admin-email admin@acme.example --plugin projects
  atrium tenants create beta --name Beta --admin-email a@beta.example --setting region=eu`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Slug = args[0]
			var err error
			if in.Settings, err = parseSettings(settings); err != nil {
				return err
			}
			if in.Name == "" || in.Admin.Email == "" {
				return usagef("--name and --admin-email are required")
			}
			if in.Admin.Password == "" {
				if in.Admin.Password, err = prompt(cmd, "Admin password: ", true); err != nil {
					return err
				}
			}
			var t model.TenantResponse
			if err := r.call(cmd.Context(), http.MethodPost, "/api/v1/tenants", in, &t); err != nil {
				return err
			}
			return printTenant(cmd, &o, t)
		},
	}
	r.addFlags(cmd, asOperator)
	o.addFlag(cmd)
	cmd.Flags().StringVar(&in.Name, "name", "", "the tenant's display name (required)")
	cmd.Flags().StringVar(&in.Admin.Email, "admin-email", "", "the first admin's email (required)")
	cmd.Flags().StringVar(&in.Admin.Password, "admin-password", os.Getenv("ATRIUM_ADMIN_PASSWORD"), "the first admin's password (ATRIUM_ADMIN_PASSWORD; prompted for when absent)")
	cmd.Flags().StringSliceVar(&in.Plugins, "plugin", nil, "a plugin to enable (repeatable, or comma-separated)")
	cmd.Flags().StringArrayVar(&settings, "setting", nil, "a tenant setting KEY=VALUE, VALUE as JSON or else a string (repeatable)")
	return cmd
}

func newTenantsShowCommand() *cobra.Command {
	var r remote
	var o output
	cmd := &cobra.Command{
		Use:               "show SLUG",
		Short:             "Show a tenant",
		Example:           `  atrium tenants show acme -o yaml`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			var t model.TenantResponse
			if err := r.call(cmd.Context(), http.MethodGet, tenantPath(args[0]), nil, &t); err != nil {
				return err
			}
			return printTenant(cmd, &o, t)
		},
	}
	r.addFlags(cmd, asOperator)
	o.addFlag(cmd)
	return cmd
}

func newTenantsUpdateCommand() *cobra.Command {
	var r remote
	var o output
	var name string
	var plugins, settings []string
	cmd := &cobra.Command{
		Use:   "update SLUG [--name NAME] [--plugins A,B] [--setting KEY=VALUE]",
		Short: "Change a tenant's name, enabled plugins or settings",
		Long: `update changes what its flags name and leaves the rest. --plugins replaces
the list of enabled plugins (enabling one runs its migrations in the tenant;
--plugins "" disables them all); --setting replaces the settings.`,
		Example: `  atrium tenants update acme --name "Acme Corporation"
  atrium tenants update acme --plugins projects,documents`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			var in model.UpdateTenantRequest
			f := cmd.Flags()
			if f.Changed("name") {
				in.Name = &name
			}
			if f.Changed("plugins") {
				ps := []string{}
				for _, p := range plugins {
					if p != "" {
						ps = append(ps, p)
					}
				}
				in.Plugins = &ps
			}
			var err error
			if in.Settings, err = parseSettings(settings); err != nil {
				return err
			}
			if in.Name == nil && in.Plugins == nil && in.Settings == nil {
				return usagef("nothing to change: give --name, --plugins or --setting")
			}
			var t model.TenantResponse
			if err := r.call(cmd.Context(), http.MethodPatch, tenantPath(args[0]), in, &t); err != nil {
				return err
			}
			return printTenant(cmd, &o, t)
		},
	}
	r.addFlags(cmd, asOperator)
	o.addFlag(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the new display name")
	cmd.Flags().StringSliceVar(&plugins, "plugins", nil, "the plugins enabled from now on (comma-separated; replaces the list)")
	cmd.Flags().StringArrayVar(&settings, "setting", nil, "a setting KEY=VALUE (repeatable; replaces the settings)")
	return cmd
}

func newTenantStatusCommand(verb, status, short string) *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:               verb + " SLUG",
		Short:             short,
		Example:           "  atrium tenants " + verb + " acme",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			var t model.TenantResponse
			if err := r.call(cmd.Context(), http.MethodPatch, tenantPath(args[0]), model.UpdateTenantRequest{Status: &status}, &t); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "tenant %s: %s\n", t.Slug, t.Status)
			return err
		},
	}
	r.addFlags(cmd, asOperator)
	return cmd
}

func newTenantsDeleteCommand() *cobra.Command {
	var r remote
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete SLUG [--yes]",
		Short: "Delete a tenant, its schema, role and data",
		Long: `delete removes the tenant and everything it holds, for good. It asks you to
type the slug again, or takes --yes (scripts; stdin that is not a terminal
must use --yes).`,
		Example:           `  atrium tenants delete acme --yes`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			slug := args[0]
			if !yes {
				answer, err := prompt(cmd, fmt.Sprintf("Delete tenant %s and all its data? Type its slug to confirm: ", slug), false)
				if err != nil {
					return err
				}
				if answer != slug {
					return usagef("not confirmed: nothing was deleted")
				}
			}
			if err := r.call(cmd.Context(), http.MethodDelete, tenantPath(slug), nil, nil); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "tenant %s: deleted\n", slug)
			return err
		},
	}
	r.addFlags(cmd, asOperator)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func newTenantsBackupCommand() *cobra.Command {
	var r remote
	var o output
	var file string
	var toStore bool
	cmd := &cobra.Command{
		Use:   "backup SLUG [-f FILE | --to-store]",
		Short: "Back up a tenant's schema, to a file or into the blob store",
		Long: `backup downloads a .tar.gz archive of the tenant's schema (data and migration
state) to FILE (default: the name the server gives, in the current directory;
"-" for stdout), with a progress bar on a terminal. With --to-store the server
writes it into its blob store (ATRIUM_BLOB_URL) instead and prints its key,
for restore --backup-key.`,
		Example: `  atrium tenants backup acme
  atrium tenants backup acme -f acme.tar.gz
  atrium tenants backup acme --to-store -o json`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeTenants,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, slug := cmd.Context(), args[0]
			if toStore {
				if file != "" {
					return usagef("--to-store and -f do not go together")
				}
				var b model.StoredBackup
				if err := r.call(ctx, http.MethodPost, tenantPath(slug)+"/backups", nil, &b); err != nil {
					return err
				}
				return o.print(cmd.OutOrStdout(), b, func(w *tabwriter.Writer) {
					cells(w, "KEY:", b.Key)
					cells(w, "SIZE:", fmt.Sprint(b.Size))
					cells(w, "SHA256:", b.SHA256)
				})
			}
			return download(ctx, cmd, &r, tenantPath(slug)+"/backup", file)
		},
	}
	r.addFlags(cmd, asOperator)
	o.addFlag(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", `where to write the archive ("-": stdout)`)
	cmd.Flags().BoolVar(&toStore, "to-store", false, "keep the backup in the server's blob store instead")
	return cmd
}

// download streams a backup to file, or to the name the server suggests.
// A failed or interrupted download leaves no file behind.
func download(ctx context.Context, cmd *cobra.Command, r *remote, path, file string) error {
	resp, err := r.send(ctx, http.MethodPost, path, func() io.Reader { return nil }, "", -1)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if file == "-" {
		_, err := io.Copy(cmd.OutOrStdout(), resp.Body)
		return err
	}
	if file == "" {
		file = suggestedName(resp.Header.Get("Content-Disposition"))
		if file == "" {
			return fmt.Errorf("the server named no file: give -f")
		}
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // a backup holds every row of the tenant
	if err != nil {
		return err
	}
	bar := newBar(cmd, resp.ContentLength, "downloading")
	n, err := io.Copy(io.MultiWriter(f, bar), resp.Body)
	_ = bar.Finish()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return fmt.Errorf("backup download: %w", err)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes)\n", file, n)
	return err
}

// suggestedName is the file name of a Content-Disposition header, without
// any directory part: the server chooses the name, not where it goes.
func suggestedName(cd string) string {
	_, params, err := mime.ParseMediaType(cd)
	if err != nil {
		return ""
	}
	name := params["filename"]
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if name == "." || name == ".." {
		return ""
	}
	return name
}

// newBar is a progress bar on stderr when it is a terminal, and nothing
// otherwise (logs, pipes, tests). size -1 is unknown: a spinner.
func newBar(cmd *cobra.Command, size int64, what string) *progressbar.ProgressBar {
	if !isTerminal(cmd.ErrOrStderr()) {
		return progressbar.DefaultBytesSilent(size, what)
	}
	return progressbar.NewOptions64(size, progressbar.OptionSetWriter(cmd.ErrOrStderr()), progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true), progressbar.OptionShowTotalBytes(true), progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100_000_000), progressbar.OptionClearOnFinish(), progressbar.OptionFullWidth())
}

func newTenantsRestoreCommand() *cobra.Command {
	var r remote
	var o output
	var key string
	var replace bool
	cmd := &cobra.Command{
		Use:   "restore SLUG (FILE | --backup-key KEY) [--replace]",
		Short: "Restore a backup into a new tenant, or over an existing one's data",
		Long: `restore uploads a backup archive (FILE, "-" for stdin) with a progress bar, or
names one kept in the blob store (--backup-key), and restores it as tenant SLUG:
a new tenant, or with --replace over the data of the existing tenant SLUG.`,
		Example: `  atrium tenants restore acme-copy acme-20260301T120000Z.atrium-backup.tar.gz
  atrium tenants restore acme --replace --backup-key backups/acme/20260301T120000Z.tar.gz`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 2) == (key != "") {
				return usagef("give a FILE or --backup-key, not both")
			}
			path := tenantPath(args[0]) + "/restore"
			if replace {
				path += "?replace=true"
			}
			var t model.TenantResponse
			if key != "" {
				if err := r.call(cmd.Context(), http.MethodPost, path, model.RestoreRequest{BackupKey: key}, &t); err != nil {
					return err
				}
				return printTenant(cmd, &o, t)
			}
			if err := upload(cmd, &r, path, args[1], &t); err != nil {
				return err
			}
			return printTenant(cmd, &o, t)
		},
	}
	r.addFlags(cmd, asOperator)
	o.addFlag(cmd)
	cmd.Flags().StringVar(&key, "backup-key", "", "the key of a backup in the server's blob store")
	cmd.Flags().BoolVar(&replace, "replace", false, "restore over the existing tenant's data")
	return cmd
}

// upload sends file as a gzip body with a progress bar and decodes the JSON
// reply into out.
func upload(cmd *cobra.Command, r *remote, path, file string, out any) error {
	src := cmd.InOrStdin()
	size := int64(-1)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		src, size = f, st.Size()
	}
	bar := newBar(cmd, size, "uploading")
	sent := false
	resp, err := r.send(cmd.Context(), http.MethodPost, path, func() io.Reader {
		if sent { // the retry after a token refresh: from the start again
			s, ok := src.(io.Seeker)
			if !ok {
				return errReader{errors.New("stdin cannot be sent twice: sign in again (atrium login) and retry")}
			}
			if _, err := s.Seek(0, io.SeekStart); err != nil {
				return errReader{err}
			}
			bar.Reset()
		}
		sent = true
		return io.TeeReader(src, bar)
	}, "application/gzip", size)
	_ = bar.Finish()
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(io.LimitReader(resp.Body, maxReply)).Decode(out)
}

// completeTenants completes a tenant slug from the server, with the
// operator's stored sign-in; no completions when that is not at hand.
func completeTenants(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 && cmd.Flags().Lookup("tenant") == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	r := remote{server: flagOr(cmd, "server", envOr("ATRIUM_SERVER", "http://127.0.0.1:8080")), token: flagOr(cmd, "token", ""),
		as: func() string { return asOperator }}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	pg, err := fetch[model.TenantResponse](ctx, &r, page{limit: 200}, "/api/v1/tenants", nil)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	slugs := make([]string, 0, len(pg.Items))
	for _, t := range pg.Items {
		slugs = append(slugs, t.Slug)
	}
	return slugs, cobra.ShellCompDirectiveNoFileComp
}

func flagOr(cmd *cobra.Command, name, def string) string {
	if f := cmd.Flags().Lookup(name); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	return def
}

// errReader is a body that fails: the request is not sent.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
