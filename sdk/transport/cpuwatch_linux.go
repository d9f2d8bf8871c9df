//go:build linux

package transport

import (
	"fmt"
	"os"
	"time"
)

// watchCPU is the rlimit mechanism's CPU bound: it samples the CPU time of
// the plugin's processes and kills the plugin once they have used more
// than its share over a whole window, which the supervisor then treats as
// a crash. A plugin busy within its share, however long it runs, is never
// touched.
func (s *sandbox) watchCPU(p *os.Process) {
	window := s.limits.CPUWindow
	if window <= 0 {
		window = DefaultCPUWindow
	}
	meter := s.cpuMeter(p.Pid)
	tick := time.NewTicker(window / 10)
	defer tick.Stop()
	type sample struct {
		at   time.Time
		used time.Duration
	}
	samples := []sample{{time.Now(), meter.sample()}}
	for {
		var now time.Time
		select {
		case <-s.exited:
			return
		case now = <-tick.C:
		}
		used := meter.sample()
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

// cpuMeter counts the processes of the plugin's uid when it has one of its
// own (wherever they moved: another process group, a session of their
// own), else those of the process group the plugin leads.
func (s *sandbox) cpuMeter(leader int) *cpuMeter {
	if s.applied.OwnUID {
		uid := s.applied.UID
		return &cpuMeter{member: func(pid int) (procStat, bool) {
			st, err := readStatus(pid)
			if err != nil || st.uid != uid {
				return procStat{}, false
			}
			p, err := readStat(pid)
			return p, err == nil
		}}
	}
	return &cpuMeter{member: func(pid int) (procStat, bool) {
		p, err := readStat(pid)
		return p, err == nil && p.pgrp == leader
	}}
}

// cpuMeter adds up the CPU time a set of processes uses, sample after
// sample, from /proc. A process that starts and ends between two samples
// is missed unless one of the set waits for it.
type cpuMeter struct {
	member func(pid int) (procStat, bool)
	last   map[int]procStat
	used   time.Duration
}

// sample returns the CPU time used since the meter's first sample, plus
// what the processes had used before it.
func (m *cpuMeter) sample() time.Duration {
	now := map[int]procStat{}
	for _, pid := range procIDs() {
		if p, ok := m.member(pid); ok {
			now[pid] = p
		}
	}
	// A process waited for since the last sample took its CPU time into
	// its parent's reaped time: what was counted of it already is not new.
	counted := map[int]time.Duration{}
	for pid, was := range m.last {
		if p, ok := now[pid]; !ok || p.start != was.start {
			counted[was.ppid] += was.own + was.reaped
		}
	}
	for pid, p := range now {
		was, ok := m.last[pid]
		if !ok || was.start != p.start {
			m.used += p.own + p.reaped
			continue
		}
		m.used += p.own - was.own + max(0, p.reaped-was.reaped-counted[pid])
	}
	m.last = now
	return m.used
}
