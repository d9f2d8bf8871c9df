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

// watchCPU is the rlimit mechanism's CPU bound: it samples the process's
// CPU time and kills it once it has used more than its share over a whole
// window, which the supervisor then treats as a crash. A plugin busy within
// its share, however long it runs, is never touched. It counts the
// process's threads and the children it has reaped, not children still
// running (under rlimits those are bounded by RLIMIT_NPROC).
func (s *sandbox) watchCPU(p *os.Process) {
	window := s.limits.CPUWindow
	if window <= 0 {
		window = DefaultCPUWindow
	}
	tick := time.NewTicker(window / 10)
	defer tick.Stop()
	type sample struct {
		at   time.Time
		used time.Duration
	}
	var samples []sample
	for {
		var now time.Time
		select {
		case <-s.exited:
			return
		case now = <-tick.C:
		}
		used, err := cpuTime(p.Pid)
		if err != nil {
			return
		}
		samples = append(samples, sample{now, used})
		// Keep the newest sample at least a window old as the first.
		for len(samples) > 1 && now.Sub(samples[1].at) >= window {
			samples = samples[1:]
		}
		span := now.Sub(samples[0].at)
		spent := used - samples[0].used
		if span < window || spent <= time.Duration(float64(span)*s.applied.CPU) {
			continue
		}
		s.mu.Lock()
		s.killedFor = fmt.Sprintf("killed by the CPU watchdog: %.1fs of CPU in %.1fs, above its share of %g CPU",
			spent.Seconds(), span.Seconds(), s.applied.CPU)
		s.mu.Unlock()
		_ = p.Kill()
		return
	}
}

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU time a process and its reaped children have used.
func cpuTime(pid int) (time.Duration, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(stat)
	// Fields after the command, which may hold spaces: state is field 3,
	// utime, stime, cutime and cstime are fields 14 to 17.
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 15 {
		return 0, errors.New("short /proc stat")
	}
	var ticks int64
	for _, f := range fields[11:15] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
