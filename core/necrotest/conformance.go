package necrotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

// BackendSuite describes a backend to TestBackend.
type BackendSuite struct {
	// New returns a fresh, empty backend for one subtest. The suite closes
	// it (when it is an io.Closer) at the end of the subtest.
	New func(t *testing.T) core.Backend
	// DeadLetters lists the dead letters b keeps, oldest first. Required
	// when the backend implements core.DeadLetterer.
	DeadLetters func(t *testing.T, b core.Backend) []core.DeadLetter
	// PullTimeout is the timeout the suite passes to Pull when it expects
	// an event. Default 5s.
	PullTimeout time.Duration
	// Waiting returns how many Pull calls are currently waiting inside b for
	// an event. Optional. The subtests of a Pull that is woken (by an
	// enqueue, a cancelled context, Close) wait for it to be positive before
	// they act, so that they exercise the blocked path for sure; without
	// it they act once the Pull's goroutine has started, and may find that
	// Pull not yet blocked.
	Waiting func(b core.Backend) int
	// Key, when set, is the partition key of the events whose order the
	// suite checks (FIFO, commit, release): a partitioned backend keeps
	// order among the events of one key, not across keys. The concurrent
	// producers' events carry none, and are checked as a set.
	Key string
	// BatchKeys, when set, are distinct keys of Key's partition, for the
	// inputs of the test that holds several deliveries at once
	// (CommitBatch): a backend that hands out one event of a key at a time,
	// as an ordered backend does, hands out events of different keys
	// together. Unset, those inputs carry Key.
	BatchKeys []string
}

// TestBackend runs the conformance suite every NecroStack backend passes:
// FIFO order, a timeout that returns none, waking on enqueue, cancellation,
// ack, concurrent producers and consumers, close, and the optional
// capabilities the backend implements (commit, batch commit, release, dead
// letters).
func TestBackend(t *testing.T, s BackendSuite) {
	if s.New == nil {
		t.Fatal("necrotest.BackendSuite: New is nil")
	}
	if s.PullTimeout <= 0 {
		s.PullTimeout = 5 * time.Second
	}
	c := conformance{s}
	t.Run("FIFO", c.fifo)
	t.Run("RoundTrip", c.roundTrip)
	t.Run("TimeoutReturnsNone", c.timeoutReturnsNone)
	t.Run("PullWakesOnEnqueue", c.pullWakes)
	t.Run("PullHonoursContext", c.pullContext)
	t.Run("AckedNotRedelivered", c.ack)
	t.Run("ConcurrentProducersConsumers", c.concurrent)
	t.Run("Close", c.close)
	t.Run("Commit", c.commit)
	t.Run("CommitBatch", c.commitBatch)
	t.Run("Release", c.release)
	t.Run("DeadLetters", c.deadLetters)
}

type conformance struct{ BackendSuite }

func (c conformance) backend(t *testing.T) core.Backend {
	t.Helper()
	b := c.New(t)
	if cl, ok := b.(io.Closer); ok {
		t.Cleanup(func() {
			if err := cl.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	return b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// seq makes n events tagged tag, with the suite's Key, or the i-th of keys
// for the i-th event when given.
func (c conformance) seq(t *testing.T, n int, tag string, keys ...string) []core.Event {
	t.Helper()
	out := make([]core.Event, n)
	for i := range out {
		key := c.Key
		if len(keys) > 0 {
			key = keys[i%len(keys)]
		}
		e, err := core.Build(core.EventInit{Type: "CONFORMANCE_EVENT", Key: key, Payload: map[string]any{"tag": tag, "n": i}})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = e
	}
	return out
}

func (c conformance) mustPull(t *testing.T, ctx context.Context, b core.Backend) core.Delivery {
	t.Helper()
	d, ok, err := b.Pull(ctx, c.PullTimeout)
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if !ok {
		t.Fatalf("Pull: no event within %v, want one", c.PullTimeout)
	}
	return d
}

func (c conformance) mustBeEmpty(t *testing.T, ctx context.Context, b core.Backend) {
	t.Helper()
	d, ok, err := b.Pull(ctx, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("Pull: %v", err)
	}
	if ok {
		t.Fatalf("Pull: got %s, want no event", d.Event)
	}
}

func mustEnqueue(t *testing.T, ctx context.Context, b core.Backend, events ...core.Event) {
	t.Helper()
	for _, e := range events {
		if err := b.Enqueue(ctx, e); err != nil {
			t.Fatalf("Enqueue %s: %v", e, err)
		}
	}
}

func (c conformance) fifo(t *testing.T) {
	ctx, b := testCtx(t), c.backend(t)
	events := c.seq(t, 50, "fifo")
	mustEnqueue(t, ctx, b, events...)
	c.mustPullInOrder(t, ctx, b, "", events)
	c.mustBeEmpty(t, ctx, b)
}

// mustPullInOrder pulls and acknowledges the events want, in order; after
// says what came before, for the messages.
func (c conformance) mustPullInOrder(t *testing.T, ctx context.Context, b core.Backend, after string, want []core.Event) {
	t.Helper()
	if after != "" {
		after = "after " + after + ", "
	}
	for i, w := range want {
		d := c.mustPull(t, ctx, b)
		if d.Event.ID() != w.ID() {
			t.Fatalf("%spull #%d: got %s, want %s", after, i, d.Event, w)
		}
		if err := b.Ack(ctx, d); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
}

func (c conformance) roundTrip(t *testing.T) {
	ctx, b := testCtx(t), c.backend(t)
	want, err := core.Build(core.EventInit{
		ID:        "0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b",
		Timestamp: time.Date(2026, 10, 31, 23, 59, 59, 123456789, time.UTC),
		Type:      "ROUND_TRIP",
		Payload:   map[string]any{"text": "ünïcödé \"quoted\"\n", "n": 1.5, "list": []any{1, "two", nil}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, ctx, b, want)
	d := c.mustPull(t, ctx, b)
	if !d.Event.Equal(want) {
		t.Fatalf("pulled event differs:\n got  %s %s %s\n want %s %s %s",
			d.Event, d.Event.Timestamp(), d.Event.Payload(), want, want.Timestamp(), want.Payload())
	}
	if err := b.Ack(ctx, d); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

func (c conformance) timeoutReturnsNone(t *testing.T) {
	ctx, b := testCtx(t), c.backend(t)
	const timeout = 300 * time.Millisecond
	start := time.Now()
	d, ok, err := b.Pull(ctx, timeout)
	elapsed := time.Since(start)
	if err != nil || ok {
		t.Fatalf("Pull on empty backend: got (%s, %v, %v), want no event and no error", d.Event, ok, err)
	}
	if elapsed < timeout/2 {
		t.Errorf("Pull returned after %v, want it to wait about %v", elapsed, timeout)
	}
	if elapsed > timeout+3*time.Second {
		t.Errorf("Pull returned after %v, want about %v", elapsed, timeout)
	}
}

// pulled is what a Pull running in its own goroutine returned.
type pulled struct {
	d   core.Delivery
	ok  bool
	err error
}

// pullAsync starts Pull(ctx, timeout) on b in a goroutine and returns once
// that Pull is waiting inside b (with the Waiting hook) or has started
// (without). The channel receives what it returned.
func (c conformance) pullAsync(t *testing.T, ctx context.Context, b core.Backend, timeout time.Duration) <-chan pulled {
	t.Helper()
	started := make(chan struct{})
	res := make(chan pulled, 1)
	go func() {
		close(started)
		d, ok, err := b.Pull(ctx, timeout)
		res <- pulled{d, ok, err}
	}()
	<-started
	if c.Waiting == nil {
		return res
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Waiting(b) < 1 {
		select {
		case r := <-res:
			t.Fatalf("Pull returned (%v, %v) before it was seen waiting", r.ok, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("BackendSuite.Waiting: no Pull waiting 10s after one started")
		}
		time.Sleep(time.Millisecond)
	}
	return res
}

func (c conformance) pullWakes(t *testing.T) {
	ctx, b := testCtx(t), c.backend(t)
	want := c.seq(t, 1, "wake")[0]
	res := c.pullAsync(t, ctx, b, 10*time.Second)
	mustEnqueue(t, ctx, b, want)
	var r pulled
	select {
	case r = <-res:
	case <-time.After(5 * time.Second):
		t.Fatal("a waiting Pull did not wake within 5s of the enqueue")
	}
	if r.err != nil || !r.ok {
		t.Fatalf("Pull: got (%v, %v), want the event", r.ok, r.err)
	}
	if r.d.Event.ID() != want.ID() {
		t.Fatalf("Pull: got %s, want %s", r.d.Event, want)
	}
	_ = b.Ack(ctx, r.d)
}

func (c conformance) pullContext(t *testing.T) {
	b := c.backend(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	res := c.pullAsync(t, ctx, b, 20*time.Second)
	cancel()
	select {
	case r := <-res:
		if r.ok {
			t.Fatal("Pull on empty backend returned an event")
		}
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("Pull after cancel: got error %v, want context.Canceled", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pull did not return within 5s of the cancel, want promptly")
	}
}

func (c conformance) ack(t *testing.T) {
	ctx, b := testCtx(t), c.backend(t)
	events := c.seq(t, 3, "ack")
	mustEnqueue(t, ctx, b, events...)
	for range events {
		if err := b.Ack(ctx, c.mustPull(t, ctx, b)); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	c.mustBeEmpty(t, ctx, b)
}

func (c conformance) concurrent(t *testing.T) {
	ctx, b := testCtx(t), c.backend(t)
	const producers, perProducer, consumers = 4, 100, 4
	total := producers * perProducer
	var wg sync.WaitGroup
	errs := make(chan error, producers+consumers)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				e, err := core.NewEvent("CONFORMANCE_EVENT", map[string]int{"p": p, "i": i})
				if err == nil {
					err = b.Enqueue(ctx, e)
				}
				if err != nil {
					errs <- fmt.Errorf("producer %d: %w", p, err)
					return
				}
			}
		}()
	}
	var mu sync.Mutex
	seen := make(map[string]int, total)
	received := 0
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				done := received >= total
				mu.Unlock()
				if done {
					return
				}
				d, ok, err := b.Pull(ctx, 200*time.Millisecond)
				if err != nil {
					errs <- fmt.Errorf("consumer: %w", err)
					return
				}
				if !ok {
					continue
				}
				if err := b.Ack(ctx, d); err != nil {
					errs <- fmt.Errorf("consumer ack: %w", err)
					return
				}
				mu.Lock()
				seen[d.Event.ID()]++
				received++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != total {
		t.Errorf("distinct events received: got %d, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s received %d times, want once", id, n)
		}
	}
}

func (c conformance) close(t *testing.T) {
	b := c.New(t)
	cl, ok := b.(io.Closer)
	if !ok {
		t.Skip("backend does not implement io.Closer")
	}
	ctx := testCtx(t)
	res := c.pullAsync(t, ctx, b, 20*time.Second)
	if err := cl.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := cl.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case r := <-res:
		if r.ok || (r.err != nil && !errors.Is(r.err, core.ErrClosed)) {
			t.Errorf("Pull blocked during Close: got (%v, %v), want no event, and nil or ErrClosed", r.ok, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Pull blocked during Close did not return within 10s")
	}
	if err := b.Enqueue(ctx, c.seq(t, 1, "closed")[0]); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Enqueue after Close: got %v, want ErrClosed", err)
	}
	if _, _, err := b.Pull(ctx, time.Millisecond); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Pull after Close: got %v, want ErrClosed", err)
	}
}
