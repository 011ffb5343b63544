//go:build !unix

package bench

import "time"

// maxRSSMiB is 0 where getrusage does not exist.
func maxRSSMiB() float64 { return 0 }

// processCPU is 0 where getrusage does not exist.
func processCPU() time.Duration { return 0 }
