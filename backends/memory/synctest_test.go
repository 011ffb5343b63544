package memory_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// The memory backend works inside a testing/synctest bubble: it starts no
// goroutine of its own and waits only on what the bubble controls, so a
// Spine over it runs the production retry backoff and pull timeouts in
// virtual time.
func TestInsideSynctestBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memory.New(memory.Config{Capacity: 8})
		defer b.Close()
		var at []time.Time
		oracle := core.OrganFunc("Oracle", []string{"ASK"}, func(context.Context, core.Event) ([]core.Event, error) {
			at = append(at, time.Now())
			if len(at) < 3 {
				return nil, errors.New("not yet")
			}
			return nil, nil
		})
		spine, err := core.NewSpine(b, []core.Organ{oracle}, core.Config{PullTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Enqueue(context.Background(), core.MustEvent("ASK", nil)); err != nil {
			t.Fatal(err)
		}
		if err := spine.RunUntilIdle(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(at) != 3 {
			t.Fatalf("%d calls, want 3", len(at))
		}
		// 50–100 ms, then 100–200 ms of backoff, then a PullTimeout of
		// 1 s to find the chain idle: all of it virtual.
		if w := at[1].Sub(at[0]); w < 50*time.Millisecond || w > 100*time.Millisecond {
			t.Errorf("first wait %v, want 50ms to 100ms", w)
		}
		if w := at[2].Sub(at[1]); w < 100*time.Millisecond || w > 200*time.Millisecond {
			t.Errorf("second wait %v, want 100ms to 200ms", w)
		}
		if idle := time.Since(at[2]); idle < time.Second {
			t.Errorf("the run ended %v after the last call, want the 1s pull timeout", idle)
		}
	})
}

// The harness runs a chain over the memory backend inside a bubble too
// (Config.Backend), with the production backoff in virtual time, and
// records the same canonical trace as on its in-process queue.
func TestHarnessOverMemoryInVirtualTime(t *testing.T) {
	organs := func() []core.Organ {
		failed := 0
		split := core.OrganFunc("Split", []string{"ROOT"}, func(context.Context, core.Event) ([]core.Event, error) {
			return []core.Event{core.MustEvent("LEAF", map[string]int{"i": 0}), core.MustEvent("LEAF", map[string]int{"i": 1})}, nil
		})
		flaky := core.OrganFunc("Flaky", []string{"LEAF"}, func(context.Context, core.Event) ([]core.Event, error) {
			if failed++; failed <= 2 {
				return nil, errors.New("not yet")
			}
			return nil, nil
		})
		return []core.Organ{split, flaky}
	}
	run := func(over bool) string {
		var form string
		synctest.Test(t, func(t *testing.T) {
			var b core.Backend
			if over { // made in the bubble, as what it waits on must be
				mb := memory.New(memory.Config{})
				defer mb.Close()
				b = mb
			}
			start := time.Now()
			tr, err := necrotest.RunWith(context.Background(), necrotest.Config{Backend: b, Retry: &core.RetryPolicy{}}, organs(), core.MustEvent("ROOT", nil))
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took < 150*time.Millisecond {
				t.Errorf("two retries took %v of virtual time; the production backoff is at least 50 ms then 100 ms", took)
			}
			form = tr.Canonical()
		})
		return form
	}
	want := run(false)
	if got := run(true); got != want {
		t.Errorf("over the memory backend:\n%s\nin process:\n%s", got, want)
	}
}
