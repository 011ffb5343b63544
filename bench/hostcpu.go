package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// hostTimes is what the host's CPUs spent, all of them together, in the
// kernel's ticks (the first line of /proc/stat).
type hostTimes struct {
	total, idle, steal uint64 // idle counts iowait too
}

// parseProcStat reads the aggregate "cpu" line of /proc/stat: user, nice,
// system, idle, iowait, irq, softirq, steal, and on newer kernels guest and
// guest_nice, which user and nice already count (so they are left out of
// the total).
func parseProcStat(text string) (hostTimes, error) {
	line, _, _ := strings.Cut(text, "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return hostTimes{}, fmt.Errorf("/proc/stat: first line %q is not the aggregate cpu line with at least 8 counters", cut(line, 80))
	}
	var v [8]uint64
	for i := range v {
		n, err := strconv.ParseUint(fields[1+i], 10, 64)
		if err != nil {
			return hostTimes{}, fmt.Errorf("/proc/stat: cpu counter %d is %q, not a number", i+1, cut(fields[1+i], 20))
		}
		v[i] = n
	}
	var t hostTimes
	for _, n := range v {
		t.total += n
	}
	t.idle, t.steal = v[3]+v[4], v[7]
	return t, nil
}

// hostShares returns, between two readings, the share of the host's CPU
// time that was busy (neither idle nor stolen) and the share the hypervisor
// stole, in percent; ok is false when no time passed between them.
func hostShares(before, after hostTimes) (busy, steal float64, ok bool) {
	if after.total <= before.total {
		return 0, 0, false
	}
	total := float64(after.total - before.total)
	stolen := float64(after.steal - before.steal)
	idle := float64(after.idle - before.idle)
	return round(100*(total-idle-stolen)/total, 1), round(100*stolen/total, 1), true
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
