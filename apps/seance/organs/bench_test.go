package organs_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
)

// BenchmarkSeance runs b.N rituals of the real séance organs on the in-memory
// backend and reports handled events (organ calls) per second and allocations
// per handled event.
func BenchmarkSeance(b *testing.B) {
	backend := memory.New(memory.Options{})
	defer backend.Close()
	chain, scribe := organs.All(io.Discard)
	s, err := core.NewSpine(backend, chain, core.Options{
		MaxSteps: core.NoStepLimit, PullTimeout: time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range b.N {
		seed, err := organs.SummonRitual.New(organs.Ritual{Number: i + 1, Seeker: "Mina", Question: "Who walks the east corridor at midnight?"})
		if err != nil {
			b.Fatal(err)
		}
		if err := backend.Enqueue(ctx, seed); err != nil {
			b.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	if err := s.RunUntilIdle(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	handled := s.Stats().Handled
	if handled != int64(4*b.N) || len(scribe.Omens()) != b.N {
		b.Fatalf("handled %d events and %d omens, want %d and %d", handled, len(scribe.Omens()), 4*b.N, b.N)
	}
	b.ReportMetric(float64(handled)/b.Elapsed().Seconds(), "handled/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(handled), "allocs/handled")
}
