package core_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

func TestConcurrency(t *testing.T) {
	t.Parallel()
	const n, events = 4, 12
	var inFlight, peak atomic.Int32
	gate := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	order := map[string][]string{}
	step := func(name string) core.Organ {
		return core.OrganFunc(name, []string{"WORK"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
			mu.Lock()
			order[e.ID()] = append(order[e.ID()], name)
			mu.Unlock()
			if name != "First" {
				return nil, nil
			}
			cur := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				p := peak.Load()
				if cur <= p || peak.CompareAndSwap(p, cur) {
					break
				}
			}
			if cur == n {
				once.Do(func() { close(gate) })
			}
			select { // hold until n handlers run at once, or give up
			case <-gate:
			case <-time.After(2 * time.Second):
			}
			return nil, nil
		})
	}
	b := &committing{fifo: newFIFO()}
	opts := fast()
	opts.Concurrency = n
	s := newSpine(t, b, opts, step("First"), step("Second"), step("Third"))
	for i := range events {
		_ = s.Enqueue(context.Background(), core.MustEvent("WORK", map[string]int{"i": i}))
	}
	runUntilIdle(t, s)
	if got := peak.Load(); got != n {
		t.Errorf("peak concurrency: got %d, want %d", got, n)
	}
	if len(order) != events {
		t.Fatalf("events handled: got %d, want %d", len(order), events)
	}
	for id, names := range order {
		if !slices.Equal(names, []string{"First", "Second", "Third"}) {
			t.Errorf("event %s: organs ran in order %v", id, names)
		}
	}
	if b.commits != events {
		t.Errorf("commits: got %d, want %d", b.commits, events)
	}
}
