package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

// batching commits in batches, slowly, failing the commits listed in fail
// (by input type and attempt) with the given errors.
type batching struct {
	*committing
	bmu     sync.Mutex
	sizes   []int
	fail    map[string][]error // input event type → errors for its next attempts
	delay   time.Duration
	batches int
}

func (b *batching) CommitBatch(ctx context.Context, commits []core.Commit) []error {
	time.Sleep(b.delay) // a round trip
	b.bmu.Lock()
	b.sizes = append(b.sizes, len(commits))
	b.batches++
	b.bmu.Unlock()
	errs := make([]error, len(commits))
	for i, c := range commits {
		b.bmu.Lock()
		if q := b.fail[c.Delivery.Event.Type()]; len(q) > 0 {
			errs[i] = q[0]
			b.fail[c.Delivery.Event.Type()] = q[1:]
			b.bmu.Unlock()
			continue
		}
		b.bmu.Unlock()
		errs[i] = b.Commit(ctx, c.Delivery, c.Outcome)
	}
	return errs
}

func TestBatchCommitsChain(t *testing.T) {
	t.Parallel()
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency=%d", conc), func(t *testing.T) {
			t.Parallel()
			b := &batching{committing: &committing{fifo: newFIFO()}, delay: 2 * time.Millisecond, fail: map[string][]error{}}
			var mu sync.Mutex
			seen := map[int]int{}
			sink := core.OrganFunc("Sink", []string{"C"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
				var p struct{ N int }
				_ = e.DecodePayload(&p)
				mu.Lock()
				seen[p.N]++
				mu.Unlock()
				return nil, nil
			})
			opts := fast()
			opts.Concurrency = conc
			opts.MaxCommitBatch = 16
			s := newSpine(t, b, opts, relay("AB", "A", "B"), relay("BC", "B", "C"), sink)
			const n = 200
			for i := range n {
				_ = s.Enqueue(context.Background(), core.MustEvent("A", map[string]int{"N": i}))
			}
			runUntilIdle(t, s)
			if len(seen) != n {
				t.Fatalf("chains completed: %d, want %d", len(seen), n)
			}
			for i, c := range seen {
				if c != 1 {
					t.Errorf("chain %d completed %d times", i, c)
				}
			}
			if b.commits != 3*n {
				t.Errorf("commits: %d, want %d", b.commits, 3*n)
			}
			if b.batches >= 3*n {
				t.Errorf("%d batches for %d commits: nothing was batched", b.batches, 3*n)
			}
			if m := slices.Max(b.sizes); m > 16 {
				t.Errorf("a batch of %d commits, more than MaxCommitBatch 16", m)
			}
			if st := s.Stats(); st.Emitted != 2*n {
				t.Errorf("stats: %+v", st)
			}
		})
	}
}

func TestBatchCommitFailures(t *testing.T) {
	t.Parallel()
	b := &batching{committing: &committing{fifo: newFIFO()}, fail: map[string][]error{
		"RETRIED":  {errTransient, errTransient},
		"REJECTED": {core.Permanent(errors.New("too big"))},
		"LOST":     {core.ErrDeliveryLost},
	}}
	s := newSpine(t, b, fast(),
		relay("R", "RETRIED", "DONE"), relay("X", "REJECTED", "DONE"), relay("L", "LOST", "DONE"), relay("Done", "DONE", ""))
	for _, typ := range []string{"RETRIED", "REJECTED", "LOST"} {
		_ = s.Enqueue(context.Background(), core.MustEvent(typ, nil))
	}
	runUntilIdle(t, s)
	ops, dead, _ := b.snapshot()
	if got := countPrefix(ops, "pull DONE"); got != 1 {
		t.Errorf("DONE events handled: %d, want 1 (from RETRIED only)\n%v", got, ops)
	}
	if len(dead) != 1 || dead[0].Reason != core.ReasonCommitRejected || dead[0].Event.Type() != "REJECTED" {
		t.Errorf("dead letters: %+v", dead)
	}
}

// RunUntilIdle must not return while commits are still on their way.
func TestBatchIdleWaitsForCommits(t *testing.T) {
	t.Parallel()
	b := &batching{committing: &committing{fifo: newFIFO()}, delay: 50 * time.Millisecond, fail: map[string][]error{}}
	opts := fast()
	opts.PullTimeout = 5 * time.Millisecond
	s := newSpine(t, b, opts, relay("AB", "A", "B"), relay("End", "B", ""))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	ops, _, queued := b.snapshot()
	if len(queued) != 0 || countPrefix(ops, "commit ") != 2 {
		t.Errorf("after RunUntilIdle: queue %v, ops %v; want both events committed", queued, ops)
	}
}

// A graceful stop commits what the organs finished.
func TestBatchShutdownCommitsPending(t *testing.T) {
	t.Parallel()
	b := &batching{committing: &committing{fifo: newFIFO()}, delay: 100 * time.Millisecond, fail: map[string][]error{}}
	started := make(chan struct{})
	var once sync.Once
	s := newSpine(t, b, fast(), core.OrganFunc("Slow", []string{"A"}, func(context.Context, core.Event) ([]core.Event, error) {
		once.Do(func() { close(started) })
		return core.Emit(core.MustEvent("B", nil)), nil
	}))
	for range 5 {
		_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	}
	cancel, done := runInBackground(s)
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pulled := s.Stats().Pulled
	if b.commits != int(pulled) {
		t.Errorf("pulled %d, committed %d: a finished event was not committed at shutdown", pulled, b.commits)
	}
}

func countPrefix(ops []string, prefix string) int {
	n := 0
	for _, op := range ops {
		if len(op) >= len(prefix) && op[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}
