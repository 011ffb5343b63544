package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/examples/cluster"
)

// On a cluster of three masters, two processes' worth of Run handle 20
// customers' 10 orders each, every customer's in the order placed.
func TestOrdersOnACluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	url := "redis://" + c.Addrs()[0] + "?cluster=true"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	producer, err := cluster.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for n := range 10 {
		for c := range 20 {
			if err := cluster.Place(ctx, producer, fmt.Sprint("customer-", c), n); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	seen := map[string][]int{}
	total := 0
	ship := core.OrganFunc("Shipper", []string{"ORDER_PLACED"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		var o struct{ N int }
		if err := e.DecodePayload(&o); err != nil {
			return nil, err
		}
		mu.Lock()
		seen[e.Key()] = append(seen[e.Key()], o.N)
		total++
		mu.Unlock()
		return nil, nil
	})
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 2 {
		b, err := cluster.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer b.Close()
			if err := cluster.Run(rctx, b, ship); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	for {
		mu.Lock()
		n := total
		mu.Unlock()
		if n >= 200 || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	wg.Wait()
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for c := range 20 {
		if got := seen[fmt.Sprint("customer-", c)]; !slices.Equal(got, want) {
			t.Errorf("customer-%d's orders handled %v, want %v", c, got, want)
		}
	}
}
