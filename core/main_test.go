package core_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if a goroutine of core outlives the tests. Core may
// depend on nothing but the standard library and uuid, so this stands in for
// goleak.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaks := coreGoroutinesAfter(5 * time.Second); len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d goroutines of necrostack/core outlived the tests:\n\n%s\n",
				len(leaks), strings.Join(leaks, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// coreGoroutinesAfter waits up to within for the goroutines of core to end,
// as some may be returning just now, and returns the stacks of those left.
func coreGoroutinesAfter(within time.Duration) []string {
	deadline := time.Now().Add(within)
	for {
		leaks := coreGoroutines()
		if len(leaks) == 0 || time.Now().After(deadline) {
			return leaks
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// coreGoroutines returns the stacks of the goroutines, other than the
// caller's and the testing package's, that run code of package core or were
// started by it.
func coreGoroutines() []string {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var leaks []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 { // the caller's
			continue
		}
		if strings.Contains(g, "\ntesting.tRunner(") || strings.Contains(g, "\ntesting.(*M).") {
			continue // a test, or the test binary's main goroutine
		}
		if strings.Contains(g, "necrostack/core.") {
			leaks = append(leaks, g)
		}
	}
	return leaks
}
