//go:build linux

package transport_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atriumhq/atrium/sdk/transport"
)

// With atriumd root, a plugin runs under a uid and gid of its own, with no
// supplementary groups, launched from a verified copy of its binary (its
// own lies in a directory the uid cannot enter), with a home and TMPDIR it
// can write. It cannot read atriumd's environment nor signal atriumd or
// another plugin, whose uid differs.
func TestPluginRunsAsItsOwnUID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("plugin uids need atriumd to run as root")
	}
	l := limits(t, transport.MechanismRlimit)
	l.MemoryBytes, l.Processes = 512<<20, 256
	rec := &logRecorder{}
	conn := launchLimited(t, l, rec)
	applied := conn.Limits()
	if !applied.OwnUID || applied.UID != l.UIDBase+1 || applied.GID != applied.UID || len(applied.Warnings) > 0 {
		t.Fatalf("limits = %+v", applied)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", conn.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.Itoa(applied.UID)
	ids := `\s+` + id + `\s+` + id + `\s+` + id + `\s+` + id + `\n` // real, effective, saved, filesystem
	for _, want := range []string{`Uid:` + ids, `Gid:` + ids, `Groups:[ \t]*\n`} {
		if !regexp.MustCompile(want).Match(status) {
			t.Errorf("/proc/%d/status lacks %s", conn.Pid(), want)
		}
	}
	lims, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", conn.Pid()))
	for _, want := range []string{`Max data size\s+536870912\s+536870912`, `Max processes\s+256\s+256`} {
		if !regexp.MustCompile(want).Match(lims) {
			t.Errorf("/proc/%d/limits lacks %s:\n%s", conn.Pid(), want, lims)
		}
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", conn.Pid())); !strings.HasPrefix(exe, filepath.Join(l.RunDir, "bin")+"/") {
		t.Errorf("runs %s, want the copy in %s/bin", exe, l.RunDir)
	}
	if line := rec.find(`"msg":"plugin process launched"`, `"mechanism":"rlimit"`, `"uid":`+id, `"own_uid":true`); line == "" {
		t.Error("the launch log line does not tell the limits")
	}

	peek := get(t, conn, "/peek", nil)
	t.Logf("peek: %v", peek)
	if peek["uid"] != float64(applied.UID) || peek["gid"] != float64(applied.GID) {
		t.Errorf("the plugin runs as %v:%v", peek["uid"], peek["gid"])
	}
	if groups, _ := peek["groups"].([]any); len(groups) > 0 {
		t.Errorf("supplementary groups kept: %v", groups)
	}
	if peek["pid"] != float64(os.Getpid()) || !strings.Contains(peek["environ_error"].(string), "permission denied") {
		t.Errorf("reading atriumd's environment: %v", peek["environ_error"])
	}
	if !strings.Contains(peek["signal_error"].(string), "operation not permitted") {
		t.Errorf("signalling atriumd: %v", peek["signal_error"])
	}
	if peek["tmp_writable"] != true || !strings.HasPrefix(peek["tmpdir"].(string), filepath.Join(l.RunDir, "home")+"/") || peek["cwd"] != peek["tmpdir"] {
		t.Errorf("home and TMPDIR: %v", peek)
	}

	// Another plugin in the same run directory gets the next uid, and the
	// two cannot reach each other.
	other, err := transport.Launch(context.Background(), transport.Config{
		Name: "testplugin", Path: pluginPath, SHA256: pluginSum, Logger: rec.logger(), StartTimeout: 20 * time.Second, Limits: l,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if u := other.Limits().UID; u != applied.UID+1 {
		t.Errorf("the second plugin's uid is %d, want %d", u, applied.UID+1)
	}
	peek = get(t, conn, "/peek", url.Values{"pid": {strconv.Itoa(other.Pid())}})
	if !strings.Contains(peek["environ_error"].(string), "permission denied") || !strings.Contains(peek["signal_error"].(string), "operation not permitted") {
		t.Errorf("reaching another plugin: %v", peek)
	}

	// Nothing of a process stays behind it: the copy was removed once it
	// ran, its home once it exited.
	_ = conn.Close()
	_ = other.Close()
	for _, sub := range []string{"bin", "home", "sock"} {
		if left, _ := os.ReadDir(filepath.Join(l.RunDir, sub)); len(left) > 0 {
			t.Errorf("%s/%s keeps %d entries", l.RunDir, sub, len(left))
		}
	}
}

// The checksum is checked on the copy that would run: a binary that is not
// the catalog's is refused, and nothing is left running or behind.
func TestOwnUIDCopyIsChecksummed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("plugin uids need atriumd to run as root")
	}
	path, sum := limitPlugin(t)
	l := limits(t, transport.MechanismRlimit)
	l.MemoryBytes = 512 << 20
	wrong := append([]byte(nil), sum...)
	wrong[0] ^= 0xff
	_, err := transport.Launch(context.Background(), transport.Config{Name: "limitplugin", Path: path, SHA256: wrong, Limits: l})
	if err == nil || !strings.Contains(err.Error(), "checksum differs") {
		t.Fatalf("err = %v", err)
	}
	for _, sub := range []string{"bin", "home", "sock"} {
		if left, _ := os.ReadDir(filepath.Join(l.RunDir, sub)); len(left) > 0 {
			t.Errorf("%s/%s keeps %d entries", l.RunDir, sub, len(left))
		}
	}
}
