//go:build linux

package transport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// prepareRunDir makes the run directory and its parts, owned and writable
// by root alone, and checks that every uid can traverse the way to it.
func prepareRunDir(dir string) (string, error) {
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("run directory %q: want an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // plugin uids traverse it
		return "", fmt.Errorf("run directory: %w", err)
	}
	if err := rootOwned(dir); err != nil {
		return "", err
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("run directory: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return "", fmt.Errorf("run directory %s: plugin uids cannot traverse %s (mode %#o)", dir, p, fi.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	// bin: the copies being launched; home: each process's home and
	// TMPDIR; sock: each launch's directory for go-plugin's sockets. 0711:
	// a plugin reaches its own entries but lists nobody's. live: the lock
	// files of the uids that launches hold, root's alone.
	for _, sub := range []string{"bin", "home", "sock", "live"} {
		mode := os.FileMode(0o711)
		if sub == "live" {
			mode = 0o700
		}
		p := filepath.Join(dir, sub)
		if err := os.Mkdir(p, mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("run directory: %w", err)
		}
		if err := rootOwned(p); err != nil {
			return "", err
		}
		if err := os.Chmod(p, mode); err != nil {
			return "", fmt.Errorf("run directory: %w", err)
		}
		sweepRun(p)
	}
	return dir, nil
}

// runEntry names a launch's copy or home after the plugin and atriumd's
// pid, so that what a killed atriumd left behind can be found.
func runEntry(name string) string { return name + "-" + strconv.Itoa(os.Getpid()) + "-" }

// sweepRun removes the copies, homes and socket directories of atriumd
// processes that are gone.
func sweepRun(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		parts := strings.Split(e.Name(), "-")
		if len(parts) == 3 && gonePID(parts[1]) {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// sweepSocketParents removes the socket directories that atriumd
// processes killed before they could remove them left in TMPDIR.
func sweepSocketParents() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), socketParentPrefix+"*-*"))
	for _, dir := range dirs {
		pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(dir), socketParentPrefix), "-")
		if gonePID(pid) {
			_ = os.RemoveAll(dir)
		}
	}
}

// gonePID tells whether pid names no process.
func gonePID(pid string) bool {
	n, err := strconv.Atoi(pid)
	return err == nil && n > 0 && errors.Is(syscall.Kill(n, 0), syscall.ESRCH)
}

// rootOwned checks that only root can change the directory at path.
func rootOwned(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("run directory %s: must be a directory owned by root and writable by root alone (mode %v)", path, fi.Mode())
	}
	return nil
}

// pluginNumber is name's number in the uid assignments kept in file
// ("name number" lines), adding the next one for a new name. Numbers are
// never reused, so a uid never passes from one plugin to another, and ones
// whose uid or gid is an account of this machine are skipped. The file is
// locked while it is read and written: atriumd processes sharing a run
// directory agree.
func pluginNumber(file, name string, base int) (int, error) {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o644) //nolint:gosec // uid numbers are no secret
	if err != nil {
		return 0, fmt.Errorf("uid assignments: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return 0, fmt.Errorf("lock the uid assignments: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, fmt.Errorf("uid assignments: %w", err)
	}
	last := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		if fields[0] == name {
			return n, nil
		}
		last = max(last, n)
	}
	n := last + 1
	for ; n <= MaxPluginUIDs && accountExists(base+n); n++ {
	}
	if n > MaxPluginUIDs {
		return 0, fmt.Errorf("uid assignments: all %d plugin uids from %d are taken", MaxPluginUIDs, base+1)
	}
	if _, err := fmt.Fprintf(f, "%s %d\n", name, n); err != nil {
		return 0, fmt.Errorf("uid assignments: %w", err)
	}
	return n, f.Sync()
}

// accountExists tells whether id is a user or group of this machine.
func accountExists(id int) bool {
	s := strconv.Itoa(id)
	if _, err := user.LookupId(s); err == nil {
		return true
	}
	_, err := user.LookupGroupId(s)
	return err == nil
}

// makeHome makes a private directory for one process of the plugin: its
// working directory and TMPDIR.
func makeHome(dir, name string, id int) (string, error) {
	home, err := os.MkdirTemp(dir, runEntry(name))
	if err != nil {
		return "", fmt.Errorf("plugin home: %w", err)
	}
	if err := os.Chown(home, id, id); err != nil {
		_ = os.Remove(home)
		return "", fmt.Errorf("plugin home: %w", err)
	}
	return home, nil
}

// makeSocketParent makes the directory in which go-plugin makes one launch's
// socket directory.
func makeSocketParent(dir, name string) (string, error) {
	p, err := os.MkdirTemp(dir, runEntry(name))
	if err == nil {
		err = os.Chmod(p, 0o711) //nolint:gosec // the plugin's uid traverses it
	}
	if err != nil {
		return "", fmt.Errorf("plugin sockets: %w", err)
	}
	return p, nil
}

// copyBinary copies the plugin binary into dir, where the plugin's uid can
// execute it and only root can change it; the checksum is then checked on
// this copy, the file that runs. Forks wait meanwhile: a child forked while
// the copy is open for writing would hold it open, and executing the copy
// would fail (ETXTBSY).
func copyBinary(src, dir, name string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("copy the plugin binary: %w", err)
	}
	defer in.Close()
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	out, err := os.CreateTemp(dir, runEntry(name))
	if err != nil {
		return "", fmt.Errorf("copy the plugin binary: %w", err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(out.Name(), 0o555) //nolint:gosec // the plugin's uid executes it
	}
	if err != nil {
		_ = os.Remove(out.Name())
		return "", fmt.Errorf("copy the plugin binary: %w", err)
	}
	return out.Name(), nil
}
