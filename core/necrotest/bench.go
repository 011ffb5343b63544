package necrotest

import (
	"context"
	"runtime"
	"testing"

	"github.com/necrostack/necrostack/core"
)

// RunBenchmark times s.RunUntilIdle over events already enqueued, fails b
// unless the Spine handled exactly want events (organ calls), and reports
// "handled/s" and "allocs/handled" (allocations of the whole process while
// the run lasted).
func RunBenchmark(b *testing.B, s *core.Spine, want int64) {
	b.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := s.Stats().Handled
	b.ResetTimer()
	if err := s.RunUntilIdle(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	handled := s.Stats().Handled - start
	if handled != want {
		b.Fatalf("handled %d events, want %d", handled, want)
	}
	b.ReportMetric(float64(handled)/b.Elapsed().Seconds(), "handled/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(handled), "allocs/handled")
}
