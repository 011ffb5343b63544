//go:build !unix

package bench

// maxRSSMiB is 0 where getrusage does not exist.
func maxRSSMiB() float64 { return 0 }
