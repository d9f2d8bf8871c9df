package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"sigs.k8s.io/yaml"
)

// Exit codes scripts can rely on (docs/cli.md).
const (
	exitOK     = 0
	exitFailed = 1 // the server refused or failed, or the work failed (a broken chain, failing tests)
	exitUsage  = 2 // the command line was wrong: nothing was sent
)

// usageError is a wrong command line: unknown command or flag, wrong
// arguments, flags that do not go together. It exits 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitCode maps the error Execute returned to the process's exit code.
func exitCode(err error) int {
	var exit *exec.ExitError
	var usage usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &exit):
		return exit.ExitCode()
	case errors.As(err, &usage), strings.HasPrefix(err.Error(), "unknown command"),
		strings.HasPrefix(err.Error(), "required flag"): // cobra's own, not flag errors

		return exitUsage
	}
	return exitFailed
}

// markUsage makes every argument check of the tree a usage error.
func markUsage(cmd *cobra.Command) {
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		markUsage(c)
	}
}

// group is a command that only holds others: run alone it prints its help,
// and with an unknown subcommand it is a usage error (cobra would print
// the help and exit 0).
func group(use, short, long string, cmds ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	g.AddCommand(cmds...)
	return g
}

// Output formats.
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
)

var formats = []string{formatTable, formatJSON, formatYAML}

// output is a command's --output flag and the printing it governs.
type output struct{ format string }

func (o *output) addFlag(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", formatTable, "how to print: table, json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
}

// check refuses an unknown format before anything is sent.
func (o *output) check() error {
	if !slices.Contains(formats, o.format) {
		return usagef("--output %q: want table, json or yaml", o.format)
	}
	return nil
}

// print writes v as JSON or YAML, or calls table for the table form.
func (o *output) print(w io.Writer, v any, table func(*tabwriter.Writer)) error {
	switch o.format {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case formatYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case formatTable:
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
	return o.check()
}

// row writes one tab-separated line of a table.
func cells(w io.Writer, cs ...string) { fmt.Fprintln(w, strings.Join(cs, "\t")) }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func tsp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return ts(*t)
}

func list(s []string) string { return or(strings.Join(s, ","), "-") }

// page is a list command's paging: one page of --limit from --cursor, or
// with --all every page, following next_cursor.
type page struct {
	limit  int
	cursor string
	all    bool
}

func (p *page) addFlags(cmd *cobra.Command) {
	cmd.Flags().IntVar(&p.limit, "limit", 0, "items per page, 1 to 200 (the server's default: 50)")
	cmd.Flags().StringVar(&p.cursor, "cursor", "", "the page to show: a next_cursor from an earlier page")
	cmd.Flags().BoolVar(&p.all, "all", false, "every page, following next_cursor")
}

func (p *page) check() error {
	if p.limit < 0 || p.limit > 200 {
		return usagef("--limit %d: want 1 to 200", p.limit)
	}
	if p.all && p.cursor != "" {
		return usagef("--all starts from the first page: it does not go with --cursor")
	}
	return nil
}

// listPage is the shape of every paged list of the API.
type listPage[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// fetch gets the list at path with the filters in q: one page, or all of
// them. With --all the result has no next cursor.
func fetch[T any](ctx context.Context, r *remote, p page, path string, q url.Values) (listPage[T], error) {
	if err := p.check(); err != nil {
		return listPage[T]{}, err
	}
	if q == nil {
		q = url.Values{}
	}
	limit := p.limit
	if p.all && limit == 0 {
		limit = 200 // fewer round trips
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	cursor := p.cursor
	var all listPage[T]
	for {
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var pg listPage[T]
		if err := r.call(ctx, "GET", path+"?"+q.Encode(), nil, &pg); err != nil {
			return all, err
		}
		all.Items = append(all.Items, pg.Items...)
		if !p.all || pg.NextCursor == nil || *pg.NextCursor == "" {
			all.NextCursor = pg.NextCursor
			if all.Items == nil {
				all.Items = []T{}
			}
			return all, nil
		}
		cursor = *pg.NextCursor
	}
}

// printPage prints a page; a table is followed, on stderr, by how to get
// the next page.
func printPage[T any](cmd *cobra.Command, o *output, pg listPage[T], header []string, rowOf func(T) []string) error {
	err := o.print(cmd.OutOrStdout(), pg, func(w *tabwriter.Writer) {
		cells(w, header...)
		for _, it := range pg.Items {
			cells(w, rowOf(it)...)
		}
	})
	if err == nil && o.format == formatTable && pg.NextCursor != nil && *pg.NextCursor != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "more: --cursor %s (or --all)\n", *pg.NextCursor)
	}
	return err
}

// isTerminal says whether w is a terminal: progress bars and prompts are
// for people, not for pipes and logs.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
