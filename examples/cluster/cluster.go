// Package cluster handles orders on a Redis Cluster in ordered mode: 16
// partitions spread over the nodes, each customer's orders in order.
package cluster

import (
	"context"
	"time"

	"github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

// Open returns the backend of the stream "orders" as 16 partitions of the
// cluster at url (such as "redis://127.0.0.1:7000?cluster=true"), in
// ordered mode.
func Open(ctx context.Context, url string) (*redis.Ordered, error) {
	return redis.NewOrdered(ctx, redis.Config{URL: url, Stream: "orders"}, 16,
		redis.OrderedOptions{LeaseTTL: 10 * time.Second})
}

// Place enqueues order n of customer: the customer is the partition key,
// so the customer's orders are handled in the order placed.
func Place(ctx context.Context, b *redis.Ordered, customer string, n int) error {
	e, err := core.Build(core.EventInit{Type: "ORDER_PLACED", Key: customer, Payload: map[string]int{"n": n}})
	if err != nil {
		return err
	}
	return b.Enqueue(ctx, e)
}

// Run handles the orders with organs, eight at a time, until ctx ends; run
// it in as many processes as you like: they share the partitions out.
func Run(ctx context.Context, b *redis.Ordered, organs ...core.Organ) error {
	spine, err := core.NewSpine(b, organs, core.Config{Concurrency: 8})
	if err != nil {
		return err
	}
	return spine.Run(ctx)
}
