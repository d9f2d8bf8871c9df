//go:build linux

package transport

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procIDs lists the processes of the machine (of atriumd's pid namespace).
func procIDs() []int {
	f, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procStatus is what /proc/<pid>/status says of a process's uid and state.
type procStatus struct {
	uid    int // real
	zombie bool
}

func readStatus(pid int) (procStatus, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procStatus{}, err
	}
	var st procStatus
	found := false
	for line := range strings.Lines(string(data)) {
		key, value, _ := strings.Cut(line, ":")
		fields := strings.Fields(value)
		switch {
		case key == "State" && len(fields) > 0:
			st.zombie = fields[0] == "Z" || fields[0] == "X"
		case key == "Uid" && len(fields) > 0:
			if st.uid, err = strconv.Atoi(fields[0]); err != nil {
				return procStatus{}, fmt.Errorf("parse /proc status: %w", err)
			}
			found = true
		}
	}
	if !found {
		return procStatus{}, errors.New("no Uid in /proc status")
	}
	return st, nil
}

// procStat is what /proc/<pid>/stat says of a process.
type procStat struct {
	ppid, pgrp int
	start      int64         // ticks after boot: with the pid, names one process
	own        time.Duration // CPU time of its threads
	reaped     time.Duration // CPU time of the children it has waited for
}

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	s := string(data)
	// Fields after the command, which may hold spaces, from field 3
	// (state): ppid and pgrp are fields 4 and 5; utime, stime, cutime and
	// cstime 14 to 17; starttime 22.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return procStat{}, errors.New("short /proc stat")
	}
	var v [7]int64 // ppid, pgrp, utime, stime, cutime, cstime, starttime
	for i, at := range []int{1, 2, 11, 12, 13, 14, 19} {
		if v[i], err = strconv.ParseInt(f[at], 10, 64); err != nil {
			return procStat{}, fmt.Errorf("parse /proc stat: %w", err)
		}
	}
	return procStat{
		ppid: int(v[0]), pgrp: int(v[1]), start: v[6],
		own:    time.Duration(v[2]+v[3]) * clockTick,
		reaped: time.Duration(v[4]+v[5]) * clockTick,
	}, nil
}
