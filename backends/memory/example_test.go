package memory_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
)

// A whole chain in one process: a Spine over the in-memory backend, run until
// the chain has quiesced.
func Example() {
	backend := memory.New(memory.Config{})
	defer backend.Close()

	summoner := core.OrganFunc("Summoner", []string{"SUMMON_RITUAL"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		return core.Emit(core.MustEvent("SPIRIT_APPEARED", e.Payload())), nil
	})
	scribe := core.OrganFunc("Scribe", []string{"SPIRIT_APPEARED"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		fmt.Println("a spirit appeared:", string(e.Payload()))
		return nil, nil
	})
	spine, err := core.NewSpine(backend, []core.Organ{summoner, scribe}, core.Config{
		PullTimeout: 10 * time.Millisecond,
		Logger:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := spine.Enqueue(ctx, core.MustEvent("SUMMON_RITUAL", map[string]string{"name": "Banquo"})); err != nil {
		panic(err)
	}
	// An event nobody listens to is dead-lettered, never dropped.
	if err := spine.Enqueue(ctx, core.MustEvent("STRAY_SPIRIT", nil)); err != nil {
		panic(err)
	}
	if err := spine.RunUntilIdle(ctx); err != nil {
		panic(err)
	}
	for _, dl := range backend.DeadLetters() {
		fmt.Println("dead letter:", dl.Event.Type(), dl.Reason)
	}
	fmt.Printf("%+v\n", spine.Stats())
	// Output:
	// a spirit appeared: {"name":"Banquo"}
	// dead letter: STRAY_SPIRIT unroutable
	// {Pulled:3 Handled:2 Failed:0 Emitted:1 DeadLettered:1}
}
