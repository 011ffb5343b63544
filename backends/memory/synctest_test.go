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
