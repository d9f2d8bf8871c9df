package tenancy

import (
	"fmt"
	"math"

	"github.com/atriumhq/atrium/core/kernel"
)

// Settings the core itself reads from a tenant's settings (the rest are
// the tenant's own, handed to policies as input.tenant.settings).
const (
	// SettingDecisionLog is "off" (the default), "denies" or "all": with
	// "all" allowed decisions of reads are recorded in the audit chain
	// too; refusals and changes are recorded whatever it says.
	SettingDecisionLog = "decision_log"
	// SettingDecisionLogSample is the share (0 to 1, default 1) of allowed
	// reads "all" records.
	SettingDecisionLogSample = "decision_log_sample"
	// SettingRateLimit is {"requests_per_second": r, "burst": b}: the
	// tenant's requests over r a second, after a burst of b, are refused
	// 429 rate_limited. Absent: no limit.
	SettingRateLimit = "rate_limit"
)

// DecisionLog is a tenant's decision log setting.
type DecisionLog struct {
	// Allowed: allowed decisions of reads are recorded, a Sample of them.
	Allowed bool
	Sample  float64
}

// DecisionLogOf reads the decision log setting of validated settings.
func DecisionLogOf(settings map[string]any) DecisionLog {
	if settings[SettingDecisionLog] != "all" {
		return DecisionLog{}
	}
	sample, ok := settings[SettingDecisionLogSample].(float64)
	if !ok {
		sample = 1
	}
	return DecisionLog{Allowed: sample > 0, Sample: sample}
}

// RateLimit is a tenant's request rate limit; zero PerSecond: none.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// RateLimitOf reads the rate limit setting of validated settings.
func RateLimitOf(settings map[string]any) RateLimit {
	m, _ := settings[SettingRateLimit].(map[string]any)
	r, _ := m["requests_per_second"].(float64)
	b, _ := m["burst"].(float64)
	if r <= 0 {
		return RateLimit{}
	}
	return RateLimit{PerSecond: r, Burst: max(int(b), 1)}
}

// CheckSettings refuses values of the settings the core reads that it
// could not use. JSON numbers arrive as float64.
func CheckSettings(settings map[string]any) error {
	var fields []kernel.FieldError
	bad := func(key, msg string) {
		fields = append(fields, kernel.FieldError{Field: "settings." + key, Message: msg})
	}
	if v, ok := settings[SettingDecisionLog]; ok && v != "off" && v != "denies" && v != "all" {
		bad(SettingDecisionLog, "must be one of: off, denies, all")
	}
	if v, ok := settings[SettingDecisionLogSample]; ok {
		if f, isNum := v.(float64); !isNum || !(f >= 0 && f <= 1) {
			bad(SettingDecisionLogSample, "must be a number from 0 to 1")
		}
	}
	if v, ok := settings[SettingRateLimit]; ok {
		m, isObj := v.(map[string]any)
		r, rok := m["requests_per_second"].(float64)
		b, bok := m["burst"].(float64)
		switch {
		case !isObj || len(m) != 2 || !rok || !bok:
			bad(SettingRateLimit, `must be {"requests_per_second": number, "burst": integer}`)
		case !(r > 0 && r <= 1e6):
			bad(SettingRateLimit+".requests_per_second", "must be above 0 and at most 1000000")
		case b != math.Trunc(b) || b < 1 || b > 1e6:
			bad(SettingRateLimit+".burst", fmt.Sprintf("must be an integer from 1 to %d", 1_000_000))
		}
	}
	if fields != nil {
		return kernel.Invalid(fields...)
	}
	return nil
}
