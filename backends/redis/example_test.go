package redis_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

// A Spine on a Redis stream; here an in-process Redis (miniredis) stands in
// for a server.
func ExampleNew() {
	srv, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	backend, err := redis.New(ctx, redis.Config{URL: "redis://" + srv.Addr(), Logger: discard()})
	if err != nil {
		log.Fatal(err) // check before deferring Close (though Close of a nil *Backend is safe)
	}
	defer backend.Close()

	greet := core.OrganFunc("Greeter", []string{"VISITOR_ARRIVED"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		fmt.Println("welcome,", string(e.Payload()))
		return nil, nil
	})
	spine, err := core.NewSpine(backend, []core.Organ{greet}, core.Config{PullTimeout: 100 * time.Millisecond, Logger: discard()})
	if err != nil {
		log.Fatal(err)
	}
	if err := spine.Enqueue(ctx, core.MustEvent("VISITOR_ARRIVED", map[string]string{"name": "Mina"})); err != nil {
		log.Fatal(err)
	}
	if err := spine.RunUntilIdle(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", spine.Stats())
	// Output:
	// welcome, {"name":"Mina"}
	// {Pulled:1 Handled:1 Failed:0 Emitted:0 DeadLettered:0}
}
