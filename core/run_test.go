package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

func TestMaxStepsExceeded(t *testing.T) {
	t.Parallel()
	ping := relay("Ping", "PING", "PONG")
	pong := relay("Pong", "PONG", "PING")
	b := &committing{fifo: newFIFO()}
	opts := fast()
	opts.MaxSteps = 7
	s := newSpine(t, b, opts, ping, pong)
	_ = s.Enqueue(context.Background(), core.MustEvent("PING", nil))
	err := s.RunUntilIdle(context.Background())
	if !errors.Is(err, core.ErrMaxStepsExceeded) || err.Error() != "max steps exceeded" {
		t.Fatalf("RunUntilIdle: got %v, want %q", err, "max steps exceeded")
	}
	if got := s.Stats().Pulled; got != 7 {
		t.Errorf("events handled: got %d, want 7", got)
	}
	ops, _, queued := b.snapshot()
	// The eighth event was pulled, then released unacknowledged.
	if len(queued) != 1 || queued[0].Type() != "PONG" {
		t.Errorf("queue after stop: %v, want the un-acked PONG", queued)
	}
	if last := ops[len(ops)-1]; last != "release PONG" {
		t.Errorf("last op: %q, want release PONG", last)
	}
	if b.commits != 7 {
		t.Errorf("commits: %d, want 7", b.commits)
	}
}

func TestMaxStepsDefault(t *testing.T) {
	t.Parallel()
	b := &committing{fifo: newFIFO()}
	s := newSpine(t, b, fast(), relay("Ping", "PING", "PONG"), relay("Pong", "PONG", "PING"))
	_ = s.Enqueue(context.Background(), core.MustEvent("PING", nil))
	if err := s.RunUntilIdle(context.Background()); !errors.Is(err, core.ErrMaxStepsExceeded) {
		t.Fatalf("got %v", err)
	}
	if got := s.Stats().Pulled; got != core.DefaultMaxSteps {
		t.Errorf("steps: got %d, want %d", got, core.DefaultMaxSteps)
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	started, cancelled := make(chan struct{}), make(chan struct{})
	var handlerCtxErr atomic.Value
	slow := core.OrganFunc("Slow", []string{"A"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		close(started)
		<-cancelled // still at work when Run's context is cancelled
		handlerCtxErr.Store(fmt.Sprint(ctx.Err()))
		return core.Emit(core.MustEvent("B", nil)), nil
	})
	b := &committing{fifo: newFIFO()}
	s := newSpine(t, b, fast(), slow, relay("Sink", "B", ""))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	cancel, done := runInBackground(s)
	<-started
	cancel()
	close(cancelled)
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if got := handlerCtxErr.Load(); got != "<nil>" {
		t.Errorf("in-flight handler's ctx: %v, want it still live during the graceful stop", got)
	}
	ops, _, queued := b.snapshot()
	if !slices.Contains(ops, "commit A") {
		t.Errorf("in-flight event was not committed: %v", ops)
	}
	if len(queued) != 1 || queued[0].Type() != "B" {
		t.Errorf("queue after stop: %v, want the emitted B left for the next run", queued)
	}
}

func TestShutdownTimeoutCancelsHandlers(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	stuck := core.OrganFunc("Stuck", []string{"A"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	b := &committing{fifo: newFIFO()}
	opts := fast()
	opts.ShutdownTimeout = 50 * time.Millisecond
	s := newSpine(t, b, opts, stuck)
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	cancel, done := runInBackground(s)
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the shutdown timeout")
	}
	ops, dead, queued := b.snapshot()
	if len(dead) != 0 {
		t.Errorf("an event interrupted by shutdown was dead-lettered: %+v", dead)
	}
	if len(queued) != 1 || queued[0].Type() != "A" || ops[len(ops)-1] != "release A" {
		t.Errorf("interrupted event: ops %v queue %v, want it released", ops, queued)
	}
}

func TestPullTimeoutDoesNotSpin(t *testing.T) {
	t.Parallel()
	b := newFIFO()
	opts := fast()
	opts.PullTimeout = 50 * time.Millisecond
	s := newSpine(t, b, opts, relay("Only", "A", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	b.mu.Lock()
	pulls := b.pulls
	b.mu.Unlock()
	if pulls < 2 || pulls > 12 {
		t.Errorf("pulls in 300ms with a 50ms timeout: got %d, want about 6", pulls)
	}
}

func TestRunStopsWhenBackendClosed(t *testing.T) {
	t.Parallel()
	b := newFIFO()
	s := newSpine(t, b, fast(), relay("Only", "A", ""))
	_ = b.Close()
	err := s.Run(context.Background())
	if !errors.Is(err, core.ErrClosed) {
		t.Errorf("Run on a closed backend: got %v, want ErrClosed", err)
	}
}

func TestRunTwiceAtOnce(t *testing.T) {
	t.Parallel()
	b := &pullSignal{Backend: newFIFO(), pulled: make(chan struct{})}
	s := newSpine(t, b, fast(), relay("Only", "A", ""))
	cancel, done := runInBackground(s)
	<-b.pulled // the first Run is in its pull loop
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: got %v, want already running", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// pullSignal is a backend that closes pulled at its first Pull.
type pullSignal struct {
	core.Backend
	once   sync.Once
	pulled chan struct{}
}

func (p *pullSignal) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	p.once.Do(func() { close(p.pulled) })
	return p.Backend.Pull(ctx, timeout)
}

// panicky is a batching backend whose Pull panics after its first n pulls.
type panicky struct {
	*batching
	pulls atomic.Int32
	n     int32
}

func (p *panicky) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	if p.pulls.Add(1) > p.n {
		panic("pull exploded")
	}
	return p.batching.Pull(ctx, timeout)
}

// A panicking Pull stops the run as a shutdown does: the handlers finish and
// commit what they hold, and no goroutine of the run outlives it.
func TestPullPanicLeavesNoGoroutine(t *testing.T) {
	// Not parallel: it looks at every goroutine of core.
	b := &panicky{batching: &batching{committing: &committing{fifo: newFIFO()}, fail: map[string][]error{}}, n: 3}
	opts := fast()
	opts.Concurrency = 4
	s := newSpine(t, b, opts, relay("AB", "A", "B"), relay("End", "B", ""))
	for range 2 {
		_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	}
	recovered := func() (r any) {
		defer func() { r = recover() }()
		_ = s.Run(context.Background())
		return nil
	}()
	if recovered != "pull exploded" {
		t.Fatalf("Run: recovered %v, want the Pull's panic", recovered)
	}
	// Bounded: a goroutine that has signalled its end may still be returning.
	if leaks := coreGoroutinesAfter(time.Second); len(leaks) > 0 {
		t.Errorf("%d goroutines of the run outlived it:\n\n%s", len(leaks), strings.Join(leaks, "\n\n"))
	}
	b.mu.Lock()
	commits := b.commits
	b.mu.Unlock()
	if pulled := s.Stats().Pulled; pulled == 0 || int64(commits) != pulled {
		t.Errorf("pulled %d, committed %d: want every handled event committed", pulled, commits)
	}
}

// Once Run's context is cancelled, the handlers' context carries the
// shutdown deadline: an organ or a backend that bounds its calls by it
// gives up before ShutdownTimeout has passed.
func TestShutdownDeadlineReachesHandlers(t *testing.T) {
	t.Parallel()
	const shutdown = 300 * time.Millisecond
	started := make(chan struct{})
	got := make(chan time.Duration, 1)
	waiting := core.OrganFunc("Waiting", []string{"A"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		if _, ok := ctx.Deadline(); ok {
			t.Error("the handlers' context has a deadline before any shutdown")
		}
		close(started)
		for {
			if d, ok := ctx.Deadline(); ok {
				got <- time.Until(d)
				<-ctx.Done()
				return nil, ctx.Err()
			}
			time.Sleep(time.Millisecond) // polling for the deadline to appear
		}
	})
	b := &committing{fifo: newFIFO()}
	opts := fast()
	opts.ShutdownTimeout = shutdown
	s := newSpine(t, b, opts, waiting)
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	cancel, done := runInBackground(s)
	<-started
	cancel()
	select {
	case left := <-got:
		if left <= 0 || left > shutdown {
			t.Errorf("deadline %v away after the cancel, want within ShutdownTimeout (%v)", left, shutdown)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handlers' context never got a deadline after the cancel")
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// A fatal backend error is not retried: a refused pull stops Run at once
// with the error, and a refused commit releases its delivery and stops Run
// too, after the events in flight are done with.
func TestFatalBackendErrorStopsRun(t *testing.T) {
	t.Parallel()
	refused := core.Fatal(errors.New("NOPERM this user has no permissions to run the 'xreadgroup' command"))

	t.Run("pull", func(t *testing.T) {
		b := newFIFO()
		b.pullErrs = []error{refused}
		s := newSpine(t, b, fast(), relay("Only", "A", ""))
		err := s.Run(context.Background())
		if !errors.Is(err, core.ErrFatal) || !strings.Contains(err.Error(), "xreadgroup") {
			t.Errorf("Run: %v, want the fatal pull error", err)
		}
		if b.pulls != 1 {
			t.Errorf("%d pulls, want 1: a fatal error is not retried", b.pulls)
		}
	})

	t.Run("commit", func(t *testing.T) {
		b := &committing{fifo: newFIFO(), commitErrs: []error{core.Fatal(errors.New("NOPERM … 'evalsha' …"))}}
		var calls atomic.Int32
		s := newSpine(t, b, fast(), core.OrganFunc("Only", []string{"A"}, func(context.Context, core.Event) ([]core.Event, error) {
			calls.Add(1)
			return nil, nil
		}))
		_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
		done := make(chan error, 1)
		go func() { done <- s.Run(context.Background()) }()
		select {
		case err := <-done:
			if !errors.Is(err, core.ErrFatal) || !strings.Contains(err.Error(), "evalsha") {
				t.Errorf("Run: %v, want the fatal commit error", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not stop on a fatal commit error")
		}
		ops, _, _ := b.snapshot()
		if !slices.Contains(ops, "release A") {
			t.Errorf("backend ops %v: the delivery whose commit was refused is not released", ops)
		}
		if b.commits != 0 || calls.Load() != 1 {
			t.Errorf("%d commits, %d calls: want none committed and the organ called once", b.commits, calls.Load())
		}
	})
}
