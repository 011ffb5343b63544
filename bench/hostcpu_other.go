//go:build !linux

package bench

import "errors"

// readHostTimes has no /proc/stat to read here: the host shares are left
// out of the results.
func readHostTimes() (hostTimes, error) {
	return hostTimes{}, errors.New("the host's CPU times are read from /proc/stat, on Linux only")
}
