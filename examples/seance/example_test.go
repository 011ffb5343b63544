package seance

import (
	"context"
	"log"
	"os"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
)

// A chain in one process, on the in-memory backend.
func Example() {
	ctx := context.Background()
	backend := memory.New(memory.Config{})
	defer backend.Close()

	spine, err := core.NewSpine(backend, []core.Organ{Summoner{}, Scribe(os.Stdout)}, core.Config{})
	if err != nil {
		log.Fatal(err) // names the bad organ: nil, no types, duplicate name…
	}
	if err := spine.Enqueue(ctx, SummonRitual.MustNew(Ritual{Seeker: "Mina", Question: "Who walks?"})); err != nil {
		log.Fatal(err)
	}
	if err := spine.RunUntilIdle(ctx); err != nil { // or spine.Run(ctx) for a long-running worker
		log.Fatal(err)
	}
	// Output: Banquo: Mina, the woods are walking
}
