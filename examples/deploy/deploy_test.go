// Package deploy_test checks the deployment examples beside it against
// atriumd itself: every variable they set is one atriumd reads, with a value
// its configuration accepts; a stop is given the time a drain takes; and the
// image copies what `make build` makes. No Docker engine is needed (none runs
// in CI); systemd-analyze verifies the unit where it is installed.
package deploy_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atriumhq/atrium/core/config"
)

func TestUnitSetsAValidConfiguration(t *testing.T) {
	unit := parseUnit(t, "atriumd.service")
	environ := map[string]string{}
	for _, line := range unit.values("Service", "Environment") {
		for _, kv := range strings.Fields(line) {
			k, v, ok := strings.Cut(strings.Trim(kv, `"`), "=")
			if !ok {
				t.Fatalf("Environment=%s: want NAME=value", line)
			}
			environ[k] = v
		}
	}
	// systemd reads EnvironmentFile= after Environment=: the file's values win.
	if got := unit.values("Service", "EnvironmentFile"); !slices.Equal(got, []string{"/etc/atrium/atriumd.env"}) {
		t.Fatalf("EnvironmentFile=%q: the example file atriumd.env is installed as /etc/atrium/atriumd.env", got)
	}
	for k, v := range parseEnvFile(t, "atriumd.env") {
		environ[k] = v
	}
	cfg := parseConfig(t, environ)

	stop := systemdDuration(t, unit.value(t, "Service", "TimeoutStopSec"))
	if need := cfg.ReadinessDelay + cfg.ShutdownTimeout; stop <= need {
		t.Errorf("TimeoutStopSec=%s: a stop takes up to ATRIUM_SHUTDOWN_READINESS_DELAY + ATRIUM_SHUTDOWN_TIMEOUT = %s", stop, need)
	}
	// Only atriumd gets SIGTERM: plugins keep serving while it drains.
	if got := unit.value(t, "Service", "KillMode"); got != "mixed" {
		t.Errorf("KillMode=%s: want mixed", got)
	}
	if got := unit.value(t, "Service", "Delegate"); got != "yes" {
		t.Errorf("Delegate=%s: plugin cgroups need the service's subtree", got)
	}
	if got := unit.value(t, "Service", "RuntimeDirectory"); "/run/"+got != cfg.PluginRunDir {
		t.Errorf("RuntimeDirectory=%s but ATRIUM_PLUGIN_RUN_DIR=%s", got, cfg.PluginRunDir)
	}
	if got := unit.value(t, "Service", "ExecStart"); !slices.Contains(makeBuildOutputs(t), "bin/"+filepath.Base(got)) {
		t.Errorf("ExecStart=%s: not a binary make build makes (%v)", got, makeBuildOutputs(t))
	}
}

func TestImageSetsAValidConfiguration(t *testing.T) {
	img := parseDockerfile(t, "Dockerfile")
	environ := img.env(t)
	cfg := parseConfig(t, environ)

	if got := img.last(t, "USER"); got == "root" || got == "0" {
		t.Errorf("USER %s: the image runs as a user of its own", got)
	}
	_, port, _ := strings.Cut(cfg.HTTPAddr, ":")
	check := img.last(t, "HEALTHCHECK")
	if want := "http://127.0.0.1:" + port + "/readyz"; !strings.Contains(check, want) {
		t.Errorf("HEALTHCHECK %s: want a check of %s", check, want)
	}
	if got := img.last(t, "STOPSIGNAL"); got != "SIGTERM" {
		t.Errorf("STOPSIGNAL %s: atriumd drains on SIGTERM", got)
	}
}

func TestImageCopiesWhatMakeBuildMakes(t *testing.T) {
	img := parseDockerfile(t, "Dockerfile")
	if !slices.ContainsFunc(img.all("RUN"), func(r string) bool { return strings.HasPrefix(r, "make build") }) {
		t.Fatal("the build stage does not RUN make build")
	}
	workdir := img.all("WORKDIR")[0] // the build stage's, where make runs
	outputs := makeBuildOutputs(t)
	pluginDir := img.env(t)["ATRIUM_PLUGIN_DIR"]
	copies := 0
	for _, c := range img.all("COPY") {
		args := strings.Fields(c)
		if args[0] != "--from=build" {
			continue
		}
		srcs, dst := args[1:len(args)-1], args[len(args)-1]
		for _, src := range srcs {
			rel, err := filepath.Rel(workdir, src)
			if err != nil || !slices.Contains(outputs, strings.TrimSuffix(rel, "/")) {
				t.Errorf("COPY --from=build %s: not in make build's output (%v under %s)", src, outputs, workdir)
			}
			if strings.TrimSuffix(rel, "/") == "bin/plugins" && filepath.Clean(dst) != pluginDir {
				t.Errorf("the plugins are copied to %s but ATRIUM_PLUGIN_DIR=%s", dst, pluginDir)
			}
			copies++
		}
	}
	if copies != 3 { // atriumd, atrium, the plugins
		t.Errorf("%d paths copied from the build stage, want atriumd, atrium and the plugins", copies)
	}
}

// TestUnitVerifies runs systemd-analyze verify on the unit, its ExecStart
// pointed at an executable that exists here.
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile("atriumd.service")
	if err != nil {
		t.Fatal(err)
	}
	text = regexp.MustCompile(`(?m)^ExecStart=\S+`).ReplaceAll(text, []byte("ExecStart="+self))
	path := filepath.Join(t.TempDir(), "atriumd.service")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(analyze, "verify", path)
	cmd.Stderr = &stderr
	// verify exits 0 on unknown keys and unparseable values: what it says
	// on stderr is the verdict.
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, stderr.String())
	}
}

// parseConfig checks that every name in environ is a variable atriumd
// reads and that atriumd's configuration accepts the whole.
func parseConfig(t *testing.T, environ map[string]string) config.Config {
	t.Helper()
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v.Name] = true
	}
	for k := range environ {
		if !known[k] {
			t.Errorf("%s is not a variable atriumd reads", k)
		}
	}
	cfg, err := config.Parse(environ)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// makeBuildOutputs lists the paths the Makefile's build target writes
// (its -o arguments; a plugin's is reduced to its directory).
func makeBuildOutputs(t *testing.T) []string {
	t.Helper()
	text, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`-o (bin/\S+)`).FindAllSubmatch(text, -1) {
		p := string(m[1])
		if strings.Contains(p, "$") {
			p = filepath.Dir(p)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Fatal("no -o bin/... in the Makefile")
	}
	return out
}

// unit is a systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	u := unit{}
	section := ""
	for _, line := range lines(t, path) {
		switch {
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s: a setting outside a section: %q", path, line)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s: want Key=value on one line: %q", path, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

func (u unit) values(section, key string) []string { return u[section][key] }

func (u unit) value(t *testing.T, section, key string) string {
	t.Helper()
	vs := u.values(section, key)
	if len(vs) != 1 {
		t.Fatalf("[%s] %s: %d values, want one", section, key, len(vs))
	}
	return vs[0]
}

// systemdDuration reads a systemd time span as this unit writes them: a
// number of seconds or Go-style units ("30s", "1min 30s").
func systemdDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), "min", "m"))
	if err != nil {
		t.Fatalf("time span %q: %v", s, err)
	}
	return d
}

func parseEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	environ := map[string]string{}
	for _, line := range lines(t, path) {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: want NAME=value: %q", path, line)
		}
		environ[k] = v
	}
	return environ
}

// dockerfile is a Dockerfile's instructions in order, continuations joined.
type dockerfile []struct{ op, args string }

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	var d dockerfile
	joined := ""
	for _, line := range lines(t, path) {
		joined += line
		if strings.HasSuffix(joined, `\`) {
			joined = strings.TrimSuffix(joined, `\`) + " "
			continue
		}
		op, args, _ := strings.Cut(joined, " ")
		d = append(d, struct{ op, args string }{strings.ToUpper(op), strings.Join(strings.Fields(args), " ")})
		joined = ""
	}
	return d
}

func (d dockerfile) all(op string) []string {
	var out []string
	for _, in := range d {
		if in.op == op {
			out = append(out, in.args)
		}
	}
	return out
}

func (d dockerfile) last(t *testing.T, op string) string {
	t.Helper()
	all := d.all(op)
	if len(all) == 0 {
		t.Fatalf("no %s instruction", op)
	}
	return all[len(all)-1]
}

// env is what the image's ENV instructions set (NAME=value pairs only).
func (d dockerfile) env(t *testing.T) map[string]string {
	t.Helper()
	environ := map[string]string{}
	for _, args := range d.all("ENV") {
		for _, kv := range strings.Fields(args) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("ENV %s: want NAME=value pairs", args)
			}
			environ[k] = v
		}
	}
	return environ
}

// lines is the file's lines, trimmed, without blanks and # comments.
func lines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
