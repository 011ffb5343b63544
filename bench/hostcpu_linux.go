//go:build linux

package bench

import "os"

// readHostTimes reads the host's CPU times from /proc/stat.
func readHostTimes() (hostTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostTimes{}, err
	}
	return parseProcStat(string(b))
}
