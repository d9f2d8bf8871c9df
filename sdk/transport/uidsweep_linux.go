//go:build linux

package transport

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// A process that leaves its plugin's process group (setsid) and is not in
// a cgroup of the launch is still of the plugin's uid: once the plugin has
// exited, every process of that uid is killed. A uid is shared by the
// launches of one plugin (an upgrade's trial next to the running version,
// atriumd processes sharing a run directory), so each launch holds a
// shared lock on its uid's file in the run directory's live/, and the
// processes of a uid are killed only by whoever gets that lock exclusively:
// while another launch runs, its processes are left alone.

// uidHold is one launch's shared lock on its plugin's uid.
type uidHold struct {
	path string
	uid  int
	f    *os.File
}

// holdUID takes a launch's hold on uid. A launch that finds no other
// launch of the uid first kills what still runs as it: what the launches
// of an atriumd that was killed left behind.
func holdUID(dir string, uid int) (*uidHold, error) {
	path := filepath.Join(dir, strconv.Itoa(uid))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the plugin's uid: %w", err)
	}
	fd := int(f.Fd())
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
		killUID(uid)
	}
	// Turns the exclusive lock into a shared one, or waits for another
	// launch's sweep to end.
	if err := unix.Flock(fd, unix.LOCK_SH); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock the plugin's uid: %w", err)
	}
	return &uidHold{path: path, uid: uid, f: f}, nil
}

// release gives up the hold and, when no other launch of the uid runs,
// kills every process of the uid.
func (h *uidHold) release(sweep bool) {
	_ = h.f.Close()
	if !sweep {
		return
	}
	f, err := os.Open(h.path)
	if err != nil {
		return
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		killUID(h.uid)
	}
}

// killUID kills every process whose real uid is uid, round after round
// until none is left: a process forks until its SIGKILL lands, though not
// after.
func killUID(uid int) {
	for range 200 {
		found := false
		for _, pid := range procIDs() {
			if killIfUID(pid, uid) {
				found = true
			}
		}
		if !found {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killIfUID kills pid if it is a live process of uid. The pidfd is opened
// before the uid is read, so a process that ends meanwhile and whose pid
// is handed to another is not killed in its place.
func killIfUID(pid, uid int) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil && !errors.Is(err, unix.ENOSYS) {
		return false // gone
	}
	if err == nil {
		defer func() { _ = unix.Close(fd) }()
	}
	st, serr := readStatus(pid)
	if serr != nil || st.uid != uid || st.zombie {
		return false
	}
	if err != nil { // no pidfds before Linux 5.3
		return unix.Kill(pid, unix.SIGKILL) == nil
	}
	return unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil
}
