package memory_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
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

// TestConformanceBounded runs the suite with a capacity and an event size
// limit, neither of which its events reach.
func TestConformanceBounded(t *testing.T) {
	necrotest.TestBackend(t, necrotest.BackendSuite{
		New: func(*testing.T) core.Backend {
			return memory.New(memory.Config{Capacity: 1000, MaxEventBytes: 1 << 20})
		},
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

// sized returns an event whose wire form is exactly n bytes.
func sized(t *testing.T, n int) core.Event {
	t.Helper()
	e := core.MustEvent("BLOB", map[string]string{"x": ""})
	base := len(e.AppendJSON(nil))
	if n < base {
		t.Fatalf("sized(%d): the smallest is %d bytes", n, base)
	}
	e, err := core.Build(core.EventInit{ID: e.ID(), Timestamp: e.Timestamp(), Type: "BLOB",
		Payload: map[string]string{"x": strings.Repeat("o", n-base)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(e.AppendJSON(nil)); got != n {
		t.Fatalf("sized(%d): %d bytes", n, got)
	}
	return e
}

func TestMaxEventBytes(t *testing.T) {
	ctx := context.Background()
	const limit = 300
	tests := []struct {
		name  string
		limit int
		size  int
		ok    bool
	}{
		{"at the limit", limit, limit, true},
		{"a byte over", limit, limit + 1, false},
		{"no limit by default", 0, 2 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := memory.New(memory.Config{MaxEventBytes: tt.limit})
			defer b.Close()
			e := sized(t, tt.size)
			for _, op := range []struct {
				name string
				do   func() error
			}{
				{"Enqueue", func() error { return b.Enqueue(ctx, e) }},
				{"Commit", func() error {
					return b.Commit(ctx, core.Delivery{Event: event(t, "IN", 0)}, core.Outcome{Emitted: []core.Event{event(t, "SMALL", 0), e}})
				}},
			} {
				before := b.Len()
				err := op.do()
				if tt.ok {
					if err != nil {
						t.Errorf("%s of a %d-byte event, limit %d: %v", op.name, tt.size, tt.limit, err)
					}
					continue
				}
				var rej *core.RejectedEventError
				if !errors.As(err, &rej) || rej.EventID != e.ID() || !errors.Is(err, core.ErrPermanent) ||
					!strings.Contains(err.Error(), fmt.Sprintf("is %d bytes, more than MaxEventBytes (%d)", tt.size, tt.limit)) {
					t.Errorf("%s of a %d-byte event, limit %d: got %v, want a permanent RejectedEventError naming it", op.name, tt.size, tt.limit, err)
				}
				if b.Len() != before {
					t.Errorf("%s refused, but the queue went from %d to %d events", op.name, before, b.Len())
				}
			}
		})
	}
}

// A suite on the memory backend meets an event too large for production
// as production would: the input is dead-lettered for the organ that
// emitted it, and nothing the commit held is handled.
func TestOversizedEmittedEventDeadLettersInput(t *testing.T) {
	b := memory.New(memory.Config{MaxEventBytes: 1 << 20})
	defer b.Close()
	var sunk atomic.Int64
	organs := []core.Organ{
		core.OrganFunc("Quiet", []string{"IN"}, func(context.Context, core.Event) ([]core.Event, error) {
			return core.Emit(core.MustEvent("SMALL", nil)), nil
		}),
		core.OrganFunc("Bloat", []string{"IN"}, func(context.Context, core.Event) ([]core.Event, error) {
			return core.Emit(core.MustEvent("SMALL", nil), core.MustEvent("HUGE", map[string]string{"x": strings.Repeat("o", 2<<20)})), nil
		}),
		core.OrganFunc("Sink", []string{"SMALL", "HUGE"}, func(context.Context, core.Event) ([]core.Event, error) {
			sunk.Add(1)
			return nil, nil
		}),
	}
	s, err := core.NewSpine(b, organs, core.Config{PullTimeout: 20 * time.Millisecond, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in := event(t, "IN", 0)
	if err := s.Enqueue(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := s.RunUntilIdle(ctx); err != nil {
		t.Fatalf("RunUntilIdle: %v", err)
	}
	dls := b.DeadLetters()
	if len(dls) != 1 || dls[0].Reason != core.ReasonCommitRejected || !dls[0].Event.Equal(in) || dls[0].Organ != "Bloat" ||
		!strings.Contains(dls[0].Error, "more than MaxEventBytes (1048576)") {
		t.Fatalf("dead letters: %+v, want the input's, %s, for Bloat", dls, core.ReasonCommitRejected)
	}
	if n := sunk.Load(); n != 0 {
		t.Errorf("%d events of the rejected commit were handled", n)
	}
}
