//go:build unix

package bench

import (
	"runtime"
	"syscall"
	"time"
)

// maxRSSMiB is the process's peak resident set size so far, in MiB
// (getrusage's ru_maxrss).
func maxRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return float64(ru.Maxrss) / (1 << 20) // bytes there
	}
	return float64(ru.Maxrss) / (1 << 10) // KiB on Linux and the BSDs
}

// processCPU is the CPU time (user and system) the process has used so far,
// from getrusage: what /proc/self/stat counts on Linux, at a finer grain.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
