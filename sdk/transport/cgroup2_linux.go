//go:build linux

package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

func newCgroup2(own cgroupDirs, leaf string, l Limits) (*cgroups, error) {
	if own.v2 == "" {
		return nil, errors.New("no cgroup2 hierarchy is mounted")
	}
	parent, err := v2Parent(own.v2)
	if err != nil {
		return nil, err
	}
	sweep(parent)
	dir := filepath.Join(parent, leaf)
	if err := os.Mkdir(dir, 0o755); err != nil { //nolint:gosec // cgroupfs: the mode is the usual one
		return nil, fmt.Errorf("create the plugin's cgroup: %w", err)
	}
	cg := &cgroups{v2: true, dirs: map[string]string{"": dir}, fd: -1}
	if err := writeLimits2(dir, l); err != nil {
		_ = cg.remove()
		return nil, err
	}
	if !cgroupFDRefused.Load() {
		if cg.fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			_ = cg.remove()
			return nil, fmt.Errorf("open the plugin's cgroup: %w", err)
		}
	}
	return cg, nil
}

func writeLimits2(dir string, l Limits) error {
	if l.MemoryBytes > 0 {
		if err := writeCgroup(dir, "memory.max", strconv.FormatInt(l.MemoryBytes, 10)); err != nil {
			return fmt.Errorf("apply memory limit: %w", err)
		}
		// No swap past the limit, and an OOM kill takes the whole cgroup.
		if err := writeIfPresent(dir, "memory.swap.max", "0"); err != nil {
			return fmt.Errorf("apply memory limit: %w", err)
		}
		if err := writeIfPresent(dir, "memory.oom.group", "1"); err != nil {
			return fmt.Errorf("apply memory limit: %w", err)
		}
	}
	if l.Processes > 0 {
		if err := writeCgroup(dir, "pids.max", strconv.Itoa(l.Processes)); err != nil {
			return fmt.Errorf("apply process limit: %w", err)
		}
	}
	if l.CPU > 0 {
		if err := writeCgroup(dir, "cpu.max", fmt.Sprintf("%d %d", cpuQuota(l.CPU), cpuPeriod)); err != nil {
			return fmt.Errorf("apply CPU limit: %w", err)
		}
	}
	return nil
}

// v2 remembers the cgroup under which plugin cgroups go, once found.
var v2 struct {
	sync.Mutex
	parent string
}

// v2Parent is atriumd's own cgroup with the memory, pids and cpu
// controllers enabled for its children. Under cgroup v2 a cgroup that holds
// processes cannot enable controllers for its children, so when it holds
// atriumd, atriumd first moves into a leaf of it named "atriumd".
func v2Parent(own string) (string, error) {
	v2.Lock()
	defer v2.Unlock()
	if v2.parent != "" {
		return v2.parent, nil
	}
	avail, err := cgroupWords(filepath.Join(own, "cgroup.controllers"))
	if err != nil {
		return "", err
	}
	for _, c := range cgroupControllers {
		if !slices.Contains(avail, c) {
			return "", fmt.Errorf("%s: the %s controller is not available (available: %s)", own, c, strings.Join(avail, " "))
		}
	}
	if err := enableControllers(own); err != nil {
		if !errors.Is(err, unix.EBUSY) {
			return "", err
		}
		leaf := filepath.Join(own, "atriumd")
		if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, fs.ErrExist) { //nolint:gosec // cgroupfs: the mode is the usual one
			return "", fmt.Errorf("create a leaf cgroup for atriumd: %w", err)
		}
		if err := writeCgroup(leaf, "cgroup.procs", strconv.Itoa(os.Getpid())); err != nil {
			return "", fmt.Errorf("move atriumd into %s: %w", leaf, err)
		}
		if err := enableControllers(own); err != nil {
			return "", fmt.Errorf("%s holds other processes than atriumd: %w", own, err)
		}
	}
	v2.parent = own
	return own, nil
}

func enableControllers(dir string) error {
	on, err := cgroupWords(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	var add []string
	for _, c := range cgroupControllers {
		if !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return writeCgroup(dir, "cgroup.subtree_control", strings.Join(add, " "))
}
