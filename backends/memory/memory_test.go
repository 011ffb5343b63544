package memory_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	necrotest.TestBackend(t, necrotest.BackendSuite{
		New: func(*testing.T) core.Backend { return memory.New(memory.Config{}) },
		DeadLetters: func(_ *testing.T, b core.Backend) []core.DeadLetter {
			return b.(*memory.Backend).DeadLetters()
		},
		Waiting: func(b core.Backend) int { return memory.WaitingPulls(b.(*memory.Backend)) },
	})
}

func TestConformanceBounded(t *testing.T) {
	necrotest.TestBackend(t, necrotest.BackendSuite{
		New: func(*testing.T) core.Backend { return memory.New(memory.Config{Capacity: 1000}) },
		DeadLetters: func(_ *testing.T, b core.Backend) []core.DeadLetter {
			return b.(*memory.Backend).DeadLetters()
		},
		Waiting: func(b core.Backend) int { return memory.WaitingPulls(b.(*memory.Backend)) },
	})
}

func event(t *testing.T, typ string, n int) core.Event {
	t.Helper()
	e, err := core.NewEvent(typ, map[string]int{"n": n})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEnqueueWaitsForRoomWhenFull(t *testing.T) {
	b := memory.New(memory.Config{Capacity: 1})
	defer b.Close()
	ctx := context.Background()
	if err := b.Enqueue(ctx, event(t, "A", 0)); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- b.Enqueue(ctx, event(t, "A", 1))
		done.Store(true)
	}()
	waitEnqueueWaiting(t, b, done.Load)
	if done.Load() {
		t.Fatal("Enqueue into a full queue returned before room was made")
	}
	if _, ok, err := b.Pull(ctx, time.Second); !ok || err != nil {
		t.Fatalf("Pull: %v %v", ok, err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Enqueue after room was made: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Enqueue did not resume when room was made")
	}
	if got := b.Len(); got != 1 {
		t.Errorf("Len: got %d, want 1", got)
	}
}

// waitEnqueueWaiting returns once an Enqueue into b's full queue waits for
// room; it fails t if returned reports that the Enqueue returned first.
func waitEnqueueWaiting(t *testing.T, b *memory.Backend, returned func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !memory.EnqueueWaiting(b) {
		if returned() {
			t.Fatal("Enqueue into a full queue returned without waiting for room")
		}
		if time.Now().After(deadline) {
			t.Fatal("no Enqueue waiting for room after 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEnqueueIntoFullQueueHonoursContext(t *testing.T) {
	b := memory.New(memory.Config{Capacity: 1})
	defer b.Close()
	if err := b.Enqueue(context.Background(), event(t, "A", 0)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Enqueue(ctx, event(t, "A", 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Enqueue into full queue: got %v, want context.DeadlineExceeded", err)
	}
}

func TestEnqueueIntoFullQueueUnblocksOnClose(t *testing.T) {
	b := memory.New(memory.Config{Capacity: 1})
	if err := b.Enqueue(context.Background(), event(t, "A", 0)); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- b.Enqueue(context.Background(), event(t, "A", 1)) }()
	waitEnqueueWaiting(t, b, func() bool { return len(errc) > 0 })
	_ = b.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, core.ErrClosed) {
			t.Fatalf("blocked Enqueue after Close: got %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocked Enqueue did not return on Close")
	}
}

// A bounded queue that the Spine feeds itself is the classic deadlock: the
// only consumer blocks on a full queue. Commit ignores Capacity, so a chain
// that fans out far past the capacity still completes.
func TestBoundedQueueFedBySpineDoesNotDeadlock(t *testing.T) {
	b := memory.New(memory.Config{Capacity: 2})
	defer b.Close()
	const fanout = 50
	var leaves atomic.Int64
	organs := []core.Organ{
		core.OrganFunc("Splitter", []string{"ROOT"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
			out := make([]core.Event, fanout)
			for i := range out {
				out[i] = core.MustEvent("LEAF", map[string]int{"i": i})
			}
			return out, nil
		}),
		core.OrganFunc("Leaf", []string{"LEAF"}, func(context.Context, core.Event) ([]core.Event, error) {
			leaves.Add(1)
			return nil, nil
		}),
	}
	s, err := core.NewSpine(b, organs, core.Config{PullTimeout: 20 * time.Millisecond, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Enqueue(ctx, event(t, "ROOT", 0), event(t, "ROOT", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.RunUntilIdle(ctx); err != nil {
		t.Fatalf("RunUntilIdle: %v", err)
	}
	if got := leaves.Load(); got != 2*fanout {
		t.Errorf("leaves handled: got %d, want %d", got, 2*fanout)
	}
}

func TestDeadLettersSurviveClose(t *testing.T) {
	b := memory.New(memory.Config{})
	dl := core.DeadLetter{Event: event(t, "A", 0), Reason: core.ReasonUnroutable}
	if err := b.DeadLetter(context.Background(), dl); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	if got := b.DeadLetters(); len(got) != 1 || got[0].Event.ID() != dl.Event.ID() {
		t.Errorf("DeadLetters after Close: got %v, want the one kept", got)
	}
}

func TestRejectsInvalidEvent(t *testing.T) {
	b := memory.New(memory.Config{})
	defer b.Close()
	if err := b.Enqueue(context.Background(), core.Event{}); !errors.Is(err, core.ErrInvalidEvent) {
		t.Errorf("Enqueue(zero Event): got %v, want ErrInvalidEvent", err)
	}
	if err := b.Commit(context.Background(), core.Delivery{}, core.Outcome{Emitted: []core.Event{{}}}); !errors.Is(err, core.ErrInvalidEvent) {
		t.Errorf("Commit(zero Event): got %v, want ErrInvalidEvent", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
