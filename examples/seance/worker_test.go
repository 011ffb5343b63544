package seance

import (
	"context"
	"log"
	"os"

	"github.com/alicebob/miniredis/v2"

	"github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

// worker runs organs on a Redis stream until ctx is cancelled; url is like
// "redis://user:password@localhost:6379/0". Every worker process runs the
// same organs, and Redis shares the events among them.
func worker(ctx context.Context, url string, organs []core.Organ) error {
	backend, err := redis.New(ctx, redis.Config{
		URL:    url,                 // or Client: an existing go-redis UniversalClient
		Stream: "necrostack:events", // the default
	})
	if err != nil {
		return err // a bad URL, a refused password, a Redis older than 7.0
	}
	defer backend.Close()
	spine, err := core.NewSpine(backend, organs, core.Config{MaxSteps: core.NoStepLimit, Concurrency: 8})
	if err != nil {
		return err
	}
	return spine.Run(ctx)
}

// The worker on an in-process Redis (miniredis), stopped by an organ once
// the answer is written.
func Example_worker() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	url := "redis://" + mr.Addr()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	producer, err := redis.New(ctx, redis.Config{URL: url})
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	if err := producer.Enqueue(ctx, SummonRitual.MustNew(Ritual{Seeker: "Mina", Question: "Who walks?"})); err != nil {
		log.Fatal(err)
	}
	done := core.OrganFunc("Done", []string{SpiritAppeared.Type()}, func(context.Context, core.Event) ([]core.Event, error) {
		stop()
		return nil, nil
	})
	if err := worker(ctx, url, []core.Organ{Summoner{}, Scribe(os.Stdout), done}); err != nil {
		log.Fatal(err)
	}
	// Output: Banquo: Mina, the woods are walking
}
