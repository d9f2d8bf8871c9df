// Package gcpolicy sets the pace of atriumd's garbage collector.
//
// Go's default, GOGC=100, collects each time the heap has doubled since the
// last collection. atriumd's live heap is small (about 10 MB: the SQL
// parser's and OPA's tables, the caches) while a request allocates tens of
// kilobytes, so under load it collects several times a second, and each
// mark phase lands on the requests in flight: it is most of the core's p99.
// atriumd therefore runs at GOGC=200, a collection when the heap has
// tripled, and bounds the heap below the container's memory limit
// (GOMEMLIMIT at 90% of the cgroup's), so near the limit the collector runs
// as often as it must instead of the process being killed. GOGC and
// GOMEMLIMIT in the environment win over both.
package gcpolicy

import (
	"errors"
	"math"
	"os"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// DefaultGOGC is atriumd's GOGC when the environment sets none.
const DefaultGOGC = 200

// Policy is what Apply left in force, for the start-up log.
type Policy struct {
	GOGC            int    // percent; negative when collection is off
	GOGCFrom        string // "atriumd" or "GOGC"
	MemoryLimit     int64  // bytes; 0 when there is none
	MemoryLimitFrom string // "cgroup", "GOMEMLIMIT" or "none"
}

// Apply sets GOGC to DefaultGOGC unless the environment names one, and
// GOMEMLIMIT from the cgroup's memory limit unless the environment names
// one (or AUTOMEMLIMIT=off, automemlimit's switch). An error means the
// cgroup's limit could not be read; GOGC is applied all the same.
func Apply() (Policy, error) {
	return apply(memlimit.FromCgroup)
}

func apply(limitOf memlimit.Provider) (Policy, error) {
	var p Policy
	if _, ok := os.LookupEnv("GOGC"); ok {
		p.GOGC = debug.SetGCPercent(-1) // the runtime read it at start
		debug.SetGCPercent(p.GOGC)
		p.GOGCFrom = "GOGC"
	} else {
		debug.SetGCPercent(DefaultGOGC)
		p.GOGC, p.GOGCFrom = DefaultGOGC, "atriumd"
	}

	// memlimit.Set leaves a GOMEMLIMIT from the environment alone and sets
	// none (math.MaxInt64) when the cgroup has no limit.
	limit, err := memlimit.Set(memlimit.WithProvider(limitOf))
	if errors.Is(err, memlimit.ErrNoCgroup) || errors.Is(err, memlimit.ErrCgroupsNotSupported) {
		err = nil // no container: nothing to stay under
	}
	switch _, fromEnv := os.LookupEnv("GOMEMLIMIT"); {
	case fromEnv && limit != math.MaxInt64:
		p.MemoryLimit, p.MemoryLimitFrom = limit, "GOMEMLIMIT"
	case err == nil && limit != math.MaxInt64:
		p.MemoryLimit, p.MemoryLimitFrom = limit, "cgroup"
	default:
		p.MemoryLimitFrom = "none"
	}
	return p, err
}
