package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// A four-stage chain shaped like the séance, with small typed payloads, to
// measure what the Spine and this backend cost per handled event.
type benchRitual struct {
	Ritual   int    `json:"ritual"`
	Question string `json:"question"`
	Spirit   string `json:"spirit,omitempty"`
	Answer   string `json:"answer,omitempty"`
	Omen     string `json:"omen,omitempty"`
}

var (
	benchSummon = core.NewKind[benchRitual]("SUMMON_RITUAL")
	benchSpirit = core.NewKind[benchRitual]("SPIRIT_APPEARED")
	benchAnswer = core.NewKind[benchRitual]("ANSWER_GENERATED")
	benchOmen   = core.NewKind[benchRitual]("OMEN_REVEALED")
)

func benchStage(name string, from core.Kind[benchRitual], to *core.Kind[benchRitual], set func(*benchRitual)) core.Organ {
	return core.OrganFunc(name, []string{from.Type()}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		r, err := from.Decode(e)
		if err != nil {
			return nil, core.Permanent(err)
		}
		if to == nil {
			return nil, nil
		}
		set(&r)
		next, err := to.New(r)
		if err != nil {
			return nil, err
		}
		return []core.Event{next}, nil
	})
}

func benchOrgans() []core.Organ {
	return []core.Organ{
		benchStage("Summoner", benchSummon, &benchSpirit, func(r *benchRitual) { r.Spirit = "Banquo" }),
		benchStage("Medium", benchSpirit, &benchAnswer, func(r *benchRitual) { r.Answer = "The door is already open." }),
		benchStage("Oracle", benchAnswer, &benchOmen, func(r *benchRitual) { r.Omen = "A raven at the window." }),
		benchStage("Scribe", benchOmen, nil, nil),
	}
}

// BenchmarkSeanceChain runs b.N rituals through the four organs and reports
// handled events (organ calls) per second and allocations per handled event.
func BenchmarkSeanceChain(b *testing.B) {
	for _, conc := range []int{1, 4} {
		b.Run(map[int]string{1: "concurrency=1", 4: "concurrency=4"}[conc], func(b *testing.B) {
			backend := memory.New(memory.Config{})
			defer backend.Close()
			s, err := core.NewSpine(backend, benchOrgans(), core.Config{
				MaxSteps: core.NoStepLimit, Concurrency: conc,
				PullTimeout: time.Millisecond, Logger: discard(),
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for i := range b.N {
				if err := backend.Enqueue(ctx, benchSummon.MustNew(benchRitual{Ritual: i, Question: "Who walks the east corridor?"})); err != nil {
					b.Fatal(err)
				}
			}
			necrotest.RunBenchmark(b, s, int64(4*b.N))
		})
	}
}
