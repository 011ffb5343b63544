package organs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// BenchmarkSeance runs b.N rituals of the real séance organs on the in-memory
// backend and reports handled events (organ calls) per second and allocations
// per handled event.
func BenchmarkSeance(b *testing.B) {
	backend := memory.New(memory.Config{})
	defer backend.Close()
	chain, scribe := organs.All(io.Discard)
	s, err := core.NewSpine(backend, chain, core.Config{
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
	necrotest.RunBenchmark(b, s, int64(4*b.N))
	if got := len(scribe.Omens()); got != b.N {
		b.Fatalf("%d omens, want %d", got, b.N)
	}
}
