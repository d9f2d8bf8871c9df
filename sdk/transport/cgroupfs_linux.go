//go:build linux

package transport

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupDirs are the directories of this process's own cgroups.
type cgroupDirs struct {
	v2 string            // "" without a cgroup2 mount
	v1 map[string]string // controller -> directory
}

// ownCgroupDirs reads this process's cgroups (/proc/self/cgroup) and where
// their hierarchies are mounted (/proc/self/mountinfo).
func ownCgroupDirs() (cgroupDirs, error) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return cgroupDirs{}, err
	}
	paths := map[string]string{} // controller ("" for v2) -> cgroup path
	for line := range strings.Lines(string(self)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			paths[""] = parts[2]
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return cgroupDirs{}, err
	}
	d := cgroupDirs{v1: map[string]string{}}
	for line := range strings.Lines(string(info)) {
		left, right, _ := strings.Cut(line, " - ")
		lf, rf := strings.Fields(left), strings.Fields(right)
		if len(lf) < 5 || len(rf) < 3 {
			continue
		}
		root, mnt := lf[3], lf[4]
		switch rf[0] {
		case "cgroup2":
			if p, ok := paths[""]; ok && d.v2 == "" {
				d.v2 = mountedAt(mnt, root, p)
			}
		case "cgroup":
			for opt := range strings.SplitSeq(rf[2], ",") {
				if p, ok := paths[opt]; ok && d.v1[opt] == "" {
					d.v1[opt] = mountedAt(mnt, root, p)
				}
			}
		}
	}
	return d, nil
}

// mountedAt is where cgroup path is in a hierarchy whose root is mounted
// at mnt (a container's mount often starts below the hierarchy's root).
func mountedAt(mnt, root, path string) string {
	if rel, ok := strings.CutPrefix(path, root); ok && root != "/" && (rel == "" || rel[0] == '/') {
		return filepath.Join(mnt, rel)
	}
	return filepath.Join(mnt, path)
}

func writeCgroup(dir, file, value string) error {
	return os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644) //nolint:gosec // cgroup files have fixed modes
}

func writeIfPresent(dir, file, value string) error {
	if _, err := os.Stat(filepath.Join(dir, file)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return writeCgroup(dir, file, value)
}

func cgroupWords(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}

func cgroupProcs(dir string) []int {
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var pids []int
	for f := range strings.FieldsSeq(string(data)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}
