package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// pluginStatus is what the CLI reads of core/api.PluginStatus. The CLI keeps
// its own copy of the wire types rather than import core/api, which would
// bring the server's HTTP stack into it.
type pluginStatus struct {
	Name      string            `json:"name"`
	Version   string            `json:"version"`
	State     string            `json:"state"`
	Required  bool              `json:"required"`
	Restarts  int               `json:"restarts"`
	LastError string            `json:"last_error"`
	PID       int               `json:"pid"`
	Routes    []json.RawMessage `json:"routes"`
}

const operatorToken = "an operator's access token"

func newPluginsCommand() *cobra.Command {
	plugins := &cobra.Command{
		Use:   "plugins",
		Short: "List, register, upgrade and remove the server's plugins (operator)",
	}
	plugins.AddCommand(newPluginsListCommand(), newPluginsRegisterCommand(), newPluginsRemoveCommand())
	return plugins
}

func newPluginsListCommand() *cobra.Command {
	var r remote
	var raw bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the registered plugins with their state, restarts, pid and routes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if raw {
				var body json.RawMessage
				if err := r.call(cmd.Context(), http.MethodGet, "/api/v1/plugins", nil, &body); err != nil {
					return err
				}
				_, err := fmt.Fprintln(out, string(body))
				return err
			}
			var list struct {
				Items []pluginStatus `json:"items"`
			}
			if err := r.call(cmd.Context(), http.MethodGet, "/api/v1/plugins", nil, &list); err != nil {
				return err
			}
			return printPlugins(out, list.Items)
		},
	}
	r.addFlags(cmd, operatorToken)
	cmd.Flags().BoolVar(&raw, "json", false, "print the server's JSON (with routes, permissions, last errors)")
	return cmd
}

func printPlugins(out io.Writer, items []pluginStatus) error {
	if len(items) == 0 {
		_, err := fmt.Fprintln(out, "no plugins registered")
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tVERSION\tSTATE\tRESTARTS\tPID\tROUTES")
	for _, p := range items {
		pid := "-" // not running
		if p.PID != 0 {
			pid = strconv.Itoa(p.PID)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%d\n", p.Name, p.Version, p.State, p.Restarts, pid, len(p.Routes))
	}
	return w.Flush()
}

func newPluginsRegisterCommand() *cobra.Command {
	var r remote
	var in struct {
		Name     string `json:"name"`
		File     string `json:"file"`
		Required bool   `json:"required"`
	}
	cmd := &cobra.Command{
		Use:   "register NAME --file FILE [--required]",
		Short: "Register a plugin binary from the server's plugin directory, or upgrade one",
		Long: `register asks atriumd to checksum FILE (a binary's name in the server's
ATRIUM_PLUGIN_DIR), launch it, validate its manifest and only then record it
in the catalog and run it. For a plugin already registered it is the upgrade:
the running process is replaced by the new binary. A refusal changes nothing.

Required plugins must be running for /readyz to report ready.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Name = args[0]
			var s pluginStatus
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
	r.addFlags(cmd, operatorToken)
	cmd.Flags().StringVar(&in.File, "file", "", "the binary's file name in the server's ATRIUM_PLUGIN_DIR")
	cmd.Flags().BoolVar(&in.Required, "required", false, "the server is not ready unless the plugin runs")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func newPluginsRemoveCommand() *cobra.Command {
	var r remote
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Stop a plugin and remove it from the catalog (tenants' data stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := r.call(cmd.Context(), http.MethodDelete, "/api/v1/plugins/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "plugin %s removed\n", args[0])
			return err
		},
	}
	r.addFlags(cmd, operatorToken)
	return cmd
}
