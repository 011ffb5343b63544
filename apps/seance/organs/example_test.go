package organs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
)

// A séance of two rituals on the in-memory backend: the Scribe prints each
// ritual once its omen is revealed.
func Example() {
	ctx := context.Background()
	backend := memory.New(memory.Config{})
	defer backend.Close()

	all, scribe := organs.All(os.Stdout)
	spine, err := core.NewSpine(backend, all, core.Config{
		PullTimeout: 20 * time.Millisecond, // the queue is ours alone: a short wait means done
		Logger:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, q := range []string{"Is anyone there?", "Where did the music box go?"} {
		e, err := organs.SummonRitual.New(organs.Ritual{Number: i + 1, Seeker: "Lucy", Question: q})
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := spine.Enqueue(ctx, e); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := spine.RunUntilIdle(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("omens per ritual:", scribe.Omens())
	// Output:
	// Ritual 1 — Lucy asks: "Is anyone there?"
	//   Mistress Hollow, Weaver of Unfinished Letters, answers:
	//     "The answer is written on the back of an old letter."
	//   Omen: The planchette drifts to GOODBYE on its own.
	//
	// Ritual 2 — Lucy asks: "Where did the music box go?"
	//   The Nameless Child, who hums beneath the stairs, answers:
	//     "Soon. Sooner than you are ready for."
	//   Omen: The cards fall face down, all but the Moon.
	//
	// omens per ritual: map[1:1 2:1]
}
