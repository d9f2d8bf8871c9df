package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/buildinfo"
	"github.com/atriumhq/atrium/examples"
)

// pluginName is what the core accepts as a plugin's name (sdk/manifest.go):
// it is the URL prefix, the permissions' prefix and, here, the table name.
var pluginName = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}$`)

// templateName is the plugin name in examples/plugin-template.
const templateName = "notes"

func newPluginCommand() *cobra.Command {
	return group("plugin", "Write plugins: scaffold a new one from the template",
		`Commands for plugin authors. (The server's plugins are managed with "atrium plugins".)`,
		newPluginNewCommand())
}

func newPluginNewCommand() *cobra.Command {
	var dir, module, replace, version string
	var noTidy bool
	cmd := &cobra.Command{
		Use:   "new NAME [--dir DIR] [--module PATH]",
		Short: "Scaffold a plugin: a module with a route, a migration and a passing test",
		Long: `new writes a plugin named NAME into DIR (default ./NAME) from the template in
examples/plugin-template: a Go module (PATH, default example.com/NAME) with
the plugin's manifest, a resource with two routes under /api/v1/NAME, its
first migration and an end-to-end test with sdk/plugintest, then runs
"go mod tidy" there. "go test ./..." passes in it at once (it needs PostgreSQL:
ATRIUM_TEST_DATABASE_URL, or the server on 127.0.0.1:5432).

NAME is 2 to 31 lowercase letters and digits, starting with a letter. --replace
points the module at a local checkout of Atrium instead of a released version.`,
		Example: `  atrium plugin new invoices
  atrium plugin new invoices --dir ./plugins/invoices --module github.com/acme/invoices
  atrium plugin new invoices --replace ~/src/atrium   # against a local checkout`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !pluginName.MatchString(name) {
				return usagef("NAME %q: want 2 to 31 lowercase letters and digits, starting with a letter", name)
			}
			if dir == "" {
				dir = name
			}
			if module == "" {
				module = "example.com/" + name
			}
			if version == "" {
				version = atriumVersion()
			}
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return fmt.Errorf("%s is not empty: choose another --dir", dir)
			}
			if err := scaffold(dir, name, module, version, replace); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "plugin %s written to %s (module %s)\n", name, dir, module)
			if !noTidy {
				tidy := exec.CommandContext(cmd.Context(), "go", "mod", "tidy")
				tidy.Dir, tidy.Stdout, tidy.Stderr = dir, cmd.ErrOrStderr(), cmd.ErrOrStderr()
				if err := tidy.Run(); err != nil {
					return fmt.Errorf("go mod tidy in %s: %w (fix and run it again)", dir, err)
				}
			}
			fmt.Fprintf(out, "next: cd %s && go test ./...\n", dir)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", "", "where to write the plugin (default ./NAME; must be empty or absent)")
	fl.StringVar(&module, "module", "", "the Go module path (default example.com/NAME)")
	fl.StringVar(&replace, "replace", "", "a local Atrium checkout to build against (a replace directive)")
	fl.StringVar(&version, "atrium-version", "", "the Atrium module version to require (default this CLI's)")
	fl.BoolVar(&noTidy, "no-tidy", false, `do not run "go mod tidy"`)
	return cmd
}

// atriumVersion is the module version to require: this CLI's own when it
// is a release, else a placeholder that a --replace or a go get fixes.
func atriumVersion() string {
	v := buildinfo.Version
	if regexp.MustCompile(`^v\d+\.\d+\.\d+`).MatchString(v) {
		return v
	}
	return "v0.0.0-00010101000000-000000000000"
}

// scaffold copies the template into dir with the plugin renamed: its name,
// permissions, routes, table and migration, and a go.mod of its own.
func scaffold(dir, name, module, version, replace string) error {
	word := regexp.MustCompile(`\b` + templateName + `\b`)
	err := fs.WalkDir(examples.PluginTemplate, "plugin-template", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := examples.PluginTemplate.ReadFile(p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, "plugin-template/")
		rel = word.ReplaceAllString(strings.ReplaceAll(rel, "_"+templateName+".", "_"+name+"."), name)
		b = word.ReplaceAll(b, []byte(name))
		if rel == "README.md" {
			b = readme(b, name)
		}
		target := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil { //nolint:gosec // G301: source code, meant to be read
			return err
		}
		return os.WriteFile(target, b, 0o644) //nolint:gosec // source code, meant to be read
	})
	if err != nil {
		return err
	}
	var mod bytes.Buffer
	fmt.Fprintf(&mod, "module %s\n\ngo %s\n\nrequire github.com/atriumhq/atrium %s\n", module, goVersion(), version)
	if replace != "" {
		abs, err := filepath.Abs(replace)
		if err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return fmt.Errorf("--replace %s: not a checkout of Atrium: %w", replace, err)
		}
		fmt.Fprintf(&mod, "\nreplace github.com/atriumhq/atrium => %s\n", abs)
	}
	return os.WriteFile(filepath.Join(dir, "go.mod"), mod.Bytes(), 0o644) //nolint:gosec // source code
}

// readme turns the template's README into the new plugin's: the links into
// the Atrium repository no longer resolve from the plugin's own directory.
func readme(b []byte, name string) []byte {
	s := strings.Replace(string(b), "# Plugin template", "# "+name, 1)
	s = strings.ReplaceAll(s, "](../../docs/plugins.md)", "](https://github.com/atriumhq/atrium/blob/main/docs/plugins.md)")
	s = strings.ReplaceAll(s, "](../../plugins/projects)", "](https://github.com/atriumhq/atrium/tree/main/plugins/projects)")
	s = strings.ReplaceAll(s, "go test ./examples/plugin-template/", "go test ./...")
	return []byte(s)
}

// goVersion is the go directive: the toolchain this CLI was built with,
// which is at least what Atrium's own go.mod asks.
func goVersion() string {
	v := strings.TrimPrefix(runtime.Version(), "go")
	if i := strings.IndexAny(v, " -"); i >= 0 {
		v = v[:i]
	}
	if strings.Count(v, ".") < 1 {
		return "1.26"
	}
	return v
}
