package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) observer() *core.Observer {
	return &core.Observer{
		Pulled: func(_ context.Context, d core.Delivery) { r.add("pulled %s", d.Event.Type()) },
		OrganStarted: func(_ context.Context, organ string, e core.Event, n int) {
			r.add("start %s %s #%d", organ, e.Type(), n)
		},
		OrganFinished: func(_ context.Context, organ string, e core.Event, n int, out []core.Event, took time.Duration, err error) {
			if took <= 0 {
				r.add("finish %s without a duration", organ)
			}
			r.add("finish %s %s #%d emitted=%d err=%v", organ, e.Type(), n, len(out), err != nil)
		},
		Retried: func(_ context.Context, organ string, e core.Event, n int, wait time.Duration, err error) {
			r.add("retry %s #%d", organ, n)
		},
		Committed: func(_ context.Context, d core.Delivery, out core.Outcome, took time.Duration, batch int) {
			r.add("committed %s emitted=%d dead=%d batch=%d", d.Event.Type(), len(out.Emitted), len(out.DeadLetters), batch)
		},
		DeadLettered: func(_ context.Context, dl core.DeadLetter) { r.add("dead %s %s", dl.Organ, dl.Reason) },
		CommitFailed: func(_ context.Context, d core.Delivery, err error, n int) {
			r.add("commit failed %s #%d", d.Event.Type(), n)
		},
		Released: func(_ context.Context, d core.Delivery) { r.add("released %s", d.Event.Type()) },
	}
}

func (r *recorder) has(want ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var missing []string
	for _, w := range want {
		if !slices.Contains(r.events, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

// The Observer is told of each lifecycle point: pulls, organ calls with
// their outcome, retries, commits with their dead letters, failed commit
// attempts and releases.
func TestObserver(t *testing.T) {
	t.Parallel()
	var calls int
	flaky := core.OrganFunc("Flaky", []string{"A"}, func(context.Context, core.Event) ([]core.Event, error) {
		if calls++; calls == 1 {
			return nil, errors.New("once")
		}
		return core.Emit(core.MustEvent("B", nil)), nil
	})
	broken := core.OrganFunc("Broken", []string{"B"}, func(context.Context, core.Event) ([]core.Event, error) {
		return nil, core.Permanent(errors.New("never"))
	})
	b := &committing{fifo: newFIFO(), commitErrs: []error{errors.New("down once")}}
	r := &recorder{}
	opts := fast()
	opts.Observer = r.observer()
	s := newSpine(t, b, opts, flaky, broken)
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	if missing := r.has(
		"pulled A", "start Flaky A #1", "finish Flaky A #1 emitted=0 err=true", "retry Flaky #1",
		"start Flaky A #2", "finish Flaky A #2 emitted=1 err=false",
		"commit failed A #1", "committed A emitted=1 dead=0 batch=1",
		"pulled B", "finish Broken B #1 emitted=0 err=true", "committed B emitted=0 dead=1 batch=1", "dead Broken handler_failed",
	); len(missing) > 0 {
		t.Errorf("the observer was not told %q; it was told:\n%s", missing, strings.Join(r.events, "\n"))
	}
	for _, e := range r.events {
		if strings.Contains(e, "without a duration") {
			t.Error(e)
		}
	}

	// The step guard releases the delivery it will not handle.
	r2 := &recorder{}
	opts.Observer, opts.MaxSteps = r2.observer(), 1
	s = newSpine(t, newFIFO(), opts, core.OrganFunc("Only", []string{"A"}, func(context.Context, core.Event) ([]core.Event, error) { return nil, nil }))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil), core.MustEvent("A", nil))
	if err := s.RunUntilIdle(context.Background()); !errors.Is(err, core.ErrMaxStepsExceeded) {
		t.Fatalf("RunUntilIdle: %v", err)
	}
	if missing := r2.has("released A"); len(missing) > 0 {
		t.Errorf("the observer was not told of the release: %v", r2.events)
	}
}

// Middleware wraps every organ, the first outermost; the organ keeps its
// name (in dead letters) and its event types.
func TestMiddleware(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var trail []string
	mark := func(tag string) core.Middleware {
		return func(next core.Organ) core.Organ {
			return core.OrganFunc("wrapped", next.Listens(), func(ctx context.Context, e core.Event) ([]core.Event, error) {
				mu.Lock()
				trail = append(trail, tag+">")
				mu.Unlock()
				out, err := next.Handle(ctx, e)
				mu.Lock()
				trail = append(trail, "<"+tag)
				mu.Unlock()
				return out, err
			})
		}
	}
	failing := core.OrganFunc("Failing", []string{"A"}, func(context.Context, core.Event) ([]core.Event, error) {
		mu.Lock()
		trail = append(trail, "organ")
		mu.Unlock()
		return nil, core.Permanent(errors.New("no"))
	})
	b := &committing{fifo: newFIFO()}
	opts := fast()
	opts.Middleware = []core.Middleware{mark("outer"), mark("inner")}
	s := newSpine(t, b, opts, failing)
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	if want := []string{"outer>", "inner>", "organ", "<inner", "<outer"}; !slices.Equal(trail, want) {
		t.Errorf("calls: %v, want %v", trail, want)
	}
	if _, dead, _ := b.snapshot(); len(dead) != 1 || dead[0].Organ != "Failing" {
		t.Errorf("dead letters %+v: want one for Failing, the organ's own name", dead)
	}
	opts.Middleware = []core.Middleware{func(core.Organ) core.Organ { return nil }}
	if _, err := core.NewSpine(newFIFO(), []core.Organ{failing}, opts); err == nil || !strings.Contains(err.Error(), "middleware #0 returned a nil organ") {
		t.Errorf("NewSpine with a middleware returning nil: %v", err)
	}
}

// An organ reads the delivery's attempt from its context: 1 for a first
// delivery, the backend's count for a redelivery.
func TestDeliveryAttempt(t *testing.T) {
	t.Parallel()
	got := make(chan int, 2)
	probe := core.OrganFunc("Probe", []string{"A"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		got <- core.DeliveryAttempt(ctx)
		return nil, nil
	})
	b := &redelivering{fifo: newFIFO(), attempts: []int{1, 3}}
	s := newSpine(t, b, fast(), probe)
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	if a, b := <-got, <-got; a != 1 || b != 3 {
		t.Errorf("attempts seen: %d, %d; want 1, 3", a, b)
	}
	if n := core.DeliveryAttempt(context.Background()); n != 1 {
		t.Errorf("DeliveryAttempt outside a handler: %d, want 1", n)
	}
}

// redelivering hands out its deliveries with the given attempts, in order.
type redelivering struct {
	*fifo
	mu       sync.Mutex
	attempts []int
}

func (r *redelivering) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	d, ok, err := r.fifo.Pull(ctx, timeout)
	if ok {
		r.mu.Lock()
		if len(r.attempts) > 0 {
			d.Attempt, r.attempts = r.attempts[0], r.attempts[1:]
		}
		r.mu.Unlock()
	}
	return d, ok, err
}

// BenchmarkSpineObserver is the séance chain with every Observer hook set
// to do nothing and a pass-through middleware: what hooks cost when
// installed. Without them (BenchmarkSpineChain) they cost nothing.
func BenchmarkSpineObserver(b *testing.B) {
	obs := &core.Observer{
		Pulled:        func(context.Context, core.Delivery) {},
		OrganStarted:  func(context.Context, string, core.Event, int) {},
		OrganFinished: func(context.Context, string, core.Event, int, []core.Event, time.Duration, error) {},
		Committed:     func(context.Context, core.Delivery, core.Outcome, time.Duration, int) {},
	}
	pass := func(o core.Organ) core.Organ { return o }
	for _, hooks := range []bool{false, true} {
		b.Run(fmt.Sprintf("hooks=%t", hooks), func(b *testing.B) {
			opts := core.Config{MaxSteps: core.NoStepLimit, PullTimeout: time.Millisecond, Logger: quiet()}
			if hooks {
				opts.Observer, opts.Middleware = obs, []core.Middleware{pass}
			}
			backend := newBenchQueue()
			s, err := core.NewSpine(backend, benchChain(), opts)
			if err != nil {
				b.Fatal(err)
			}
			for i := range b.N {
				_ = backend.Enqueue(context.Background(), benchKind.MustNew(benchPayload{Ritual: i, Seeker: "Mina", Question: "Who walks?"}))
			}
			necrotest.RunBenchmark(b, s, int64(4*b.N))
		})
	}
}
