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

func newPluginsCommand() *cobra.Command {
	return group("plugins", "List, register, upgrade and remove the server's plugins (operator)",
		`The platform operator's plugin commands: every tenant shares the server's
plugins, and each tenant enables the ones it uses (atrium tenants update --plugins).`,
		newPluginsListCommand(), newPluginsRegisterCommand(), newPluginsRemoveCommand())
}

func newPluginsListCommand() *cobra.Command {
	var r remote
	var o output
	var raw bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the registered plugins with their state, restarts, pid and routes",
		Long: `list shows every registered plugin: its version, state (running, starting,
failed, ...), restarts, process id and number of routes. -o json or -o yaml
show everything the server says: routes, permissions, limits, last errors.`,
		Example: `  atrium plugins list
  atrium plugins list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if raw {
				var body json.RawMessage
				if err := r.call(cmd.Context(), http.MethodGet, "/api/v1/plugins", nil, &body); err != nil {
					return err
				}
				_, err := fmt.Fprintln(cmd.OutOrStdout(), string(body))
				return err
			}
			var list model.PluginList
			if err := r.call(cmd.Context(), http.MethodGet, "/api/v1/plugins", nil, &list); err != nil {
				return err
			}
			if list.Items == nil {
				list.Items = []model.PluginStatus{}
			}
			if o.format == formatTable && len(list.Items) == 0 {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "no plugins registered")
				return err
			}
			return o.print(cmd.OutOrStdout(), list, func(w *tabwriter.Writer) {
				cells(w, "NAME", "VERSION", "STATE", "RESTARTS", "PID", "ROUTES")
				for _, p := range list.Items {
					pid := "-" // not running
					if p.PID != 0 {
						pid = strconv.Itoa(p.PID)
					}
					cells(w, p.Name, p.Version, p.State, strconv.Itoa(p.Restarts), pid, strconv.Itoa(len(p.Routes)))
				}
			})
		},
	}
	r.addFlags(cmd, asOperator)
	o.addFlag(cmd)
	cmd.Flags().BoolVar(&raw, "json", false, "print the server's JSON as it came (-o json prints what this CLI read of it)")
	return cmd
}

func newPluginsRegisterCommand() *cobra.Command {
	var r remote
	var in model.RegisterPluginRequest
	cmd := &cobra.Command{
		Use:   "register NAME --file FILE [--required]",
		Short: "Register a plugin binary from the server's plugin directory, or upgrade one",
		Long: `register asks atriumd to checksum FILE (a binary's name in the server's
ATRIUM_PLUGIN_DIR), launch it, validate its manifest and only then record it
in the catalog and run it. For a plugin already registered it is the upgrade:
the running process is replaced by the new binary. A refusal changes nothing.

Required plugins must be running for /readyz to report ready.`,
		Example: `  atrium plugins register projects --file projects-v1.3.0 --required`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Name = args[0]
			var s model.PluginStatus
			if err := r.call(cmd.Context(), http.MethodPost, "/api/v1/plugins", in, &s); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "plugin %s: version %s, %s\n", s.Name, s.Version, s.State)
			if s.LastError != "" {
				fmt.Fprintf(out, "last error: %s\n", s.LastError)
			}
			return nil
		},
	}
	r.addFlags(cmd, asOperator)
	cmd.Flags().StringVar(&in.File, "file", "", "the binary's file name in the server's ATRIUM_PLUGIN_DIR")
	cmd.Flags().BoolVar(&in.Required, "required", false, "the server is not ready unless the plugin runs")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func newPluginsRemoveCommand() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:     "remove NAME",
		Short:   "Stop a plugin and remove it from the catalog (tenants' data stays)",
		Example: `  atrium plugins remove projects`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.call(cmd.Context(), http.MethodDelete, "/api/v1/plugins/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "plugin %s removed\n", args[0])
			return err
		},
	}
	r.addFlags(cmd, asOperator)
	return cmd
}
