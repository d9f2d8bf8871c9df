// Package procmem reads the resident memory of server processes from /proc
// (Linux): of one process, of a process and everything it started (atriumd
// and its plugins), and finds the process listening on a TCP port, so a load
// tool can measure a server it did not start.
package procmem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoListener is returned when no process of ours listens on the port
// (or /proc does not let us see it).
var ErrNoListener = errors.New("no process found listening on the port")

// RSS is the resident set size of process pid in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("process %d: VmRSS: %w", pid, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("process %d: no VmRSS (a zombie?)", pid)
}

// TreeRSS is the resident memory of pid and its descendants, in bytes,
// with the pids counted.
func TreeRSS(pid int) (int64, []int, error) {
	pids, err := tree(pid)
	if err != nil {
		return 0, nil, err
	}
	var total int64
	for _, p := range pids {
		rss, err := RSS(p)
		if err != nil {
			if p == pid {
				return 0, nil, err
			}
			continue // a child that exited meanwhile
		}
		total += rss
	}
	return total, pids, nil
}

// tree is pid followed by its descendants.
func tree(root int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parent(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	pids := []int{root}
	for i := 0; i < len(pids); i++ {
		pids = append(pids, children[pids[i]]...)
	}
	return pids, nil
}

// parent reads the parent pid from /proc/pid/stat, whose second field (the
// command name, in parentheses) may itself hold spaces and parentheses.
func parent(pid int) (int, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:])) // state, ppid, ...
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// ListenerPID is the process listening on TCP port (IPv4 or IPv6). Only
// processes whose file descriptors we may read are found: our own user's.
func ListenerPID(port int) (int, error) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if err := listeners(table, port, inodes); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("port %d: %w", port, ErrNoListener)
	}
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		link, err := os.Readlink(fd)
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(inode, "]")] {
			return strconv.Atoi(strings.Split(fd, "/")[2])
		}
	}
	return 0, fmt.Errorf("port %d: %w", port, ErrNoListener)
}

// listeners adds the socket inodes of table's listening sockets on port.
// A row: sl local_address rem_address st ... uid timeout inode, with the
// address as hex IP:hex port and st 0A for LISTEN.
func listeners(table string, port int, inodes map[string]bool) error {
	f, err := os.Open(table)
	if err != nil {
		return err
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" || !strings.HasSuffix(fields[1], want) {
			continue
		}
		inodes[fields[9]] = true
	}
	return sc.Err()
}
