package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fast returns options for tests: quick pulls and retries, no logs.
func fast() core.Config {
	return core.Config{
		PullTimeout: 20 * time.Millisecond,
		Retry:       core.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond},
		Logger:      quiet(),
	}
}

// runInBackground starts s.Run; cancel stops it, and done yields its result.
func runInBackground(s *core.Spine) (cancel context.CancelFunc, done <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- s.Run(ctx) }()
	return cancel, ch
}

func runUntilIdle(t *testing.T, s *core.Spine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.RunUntilIdle(ctx); err != nil {
		t.Fatalf("RunUntilIdle: %v", err)
	}
}

func newSpine(t *testing.T, b core.Backend, opts core.Config, organs ...core.Organ) *core.Spine {
	t.Helper()
	s, err := core.NewSpine(b, organs, opts)
	if err != nil {
		t.Fatalf("NewSpine: %v", err)
	}
	return s
}

func relay(name, from, to string) core.Organ {
	return core.OrganFunc(name, []string{from}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		if to == "" {
			return nil, nil
		}
		return core.Emit(core.MustEvent(to, e.Payload())), nil
	})
}

type Summoner struct{}

func (Summoner) Listens() []string { return []string{"SUMMON_RITUAL"} }
func (Summoner) Handle(context.Context, core.Event) ([]core.Event, error) {
	return nil, nil
}

type named struct{ Summoner }

func (named) Name() string { return "CustomName" }

func TestOrganName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		organ core.Organ
		want  string
	}{
		{Summoner{}, "Summoner"},
		{&Summoner{}, "Summoner"},
		{named{}, "CustomName"},
		{core.OrganFunc("Scribe", []string{"A"}, nil), "Scribe"},
	}
	for _, tt := range tests {
		if got := core.OrganName(tt.organ); got != tt.want {
			t.Errorf("OrganName(%T) = %q, want %q", tt.organ, got, tt.want)
		}
	}
}

func TestNewSpineValidation(t *testing.T) {
	t.Parallel()
	ok := relay("Ok", "A", "")
	tests := []struct {
		name    string
		backend core.Backend
		organs  []core.Organ
		opts    core.Config
		wantErr string
	}{
		{"nil backend", nil, []core.Organ{ok}, core.Config{}, "backend is nil"},
		{"no organs", newFIFO(), nil, core.Config{}, "at least one organ"},
		{"nil organ", newFIFO(), []core.Organ{ok, nil}, core.Config{}, "organ #1 is nil"},
		{"no types", newFIFO(), []core.Organ{core.OrganFunc("Deaf", nil, nil)}, core.Config{}, `organ "Deaf" listens to no event type`},
		{"invalid type", newFIFO(), []core.Organ{core.OrganFunc("Bad", []string{"not-upper"}, nil)}, core.Config{}, `organ "Bad": invalid event: event_type`},
		{"duplicate names", newFIFO(), []core.Organ{ok, relay("Ok", "B", "")}, core.Config{}, `organ #0 and #1 are both named "Ok"`},
		{"duplicate type names", newFIFO(), []core.Organ{Summoner{}, &Summoner{}}, core.Config{}, `both named "Summoner"`},
		{"empty name", newFIFO(), []core.Organ{core.OrganFunc("", []string{"A"}, nil)}, core.Config{}, "empty name"},
		{"negative concurrency", newFIFO(), []core.Organ{ok}, core.Config{Concurrency: -1}, "Concurrency -1"},
		{"bad max steps", newFIFO(), []core.Organ{ok}, core.Config{MaxSteps: -2}, "MaxSteps -2"},
		{"negative pull timeout", newFIFO(), []core.Organ{ok}, core.Config{PullTimeout: -time.Second}, "PullTimeout"},
		{"negative attempts", newFIFO(), []core.Organ{ok}, core.Config{Retry: core.RetryPolicy{MaxAttempts: -1}}, "Retry.MaxAttempts"},
		{"backoff cap below start", newFIFO(), []core.Organ{ok}, core.Config{Retry: core.RetryPolicy{InitialBackoff: time.Second, MaxBackoff: time.Millisecond}}, "Retry.MaxBackoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := core.NewSpine(tt.backend, tt.organs, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewSpine: got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDispatchInConstructorOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls []string
	record := func(name string, emits string) core.Organ {
		return core.OrganFunc(name, []string{"OMEN_REVEALED", "OTHER"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
			mu.Lock()
			calls = append(calls, name+":"+e.Type())
			mu.Unlock()
			if emits == "" || e.Type() != "OMEN_REVEALED" {
				return nil, nil
			}
			return core.Emit(core.MustEvent(emits, nil)), nil
		})
	}
	b := &committing{fifo: newFIFO()}
	s := newSpine(t, b, fast(), record("First", "FROM_FIRST"), record("Second", ""), record("Third", "FROM_THIRD"),
		relay("Sink", "FROM_FIRST", ""), relay("Sink2", "FROM_THIRD", ""))
	if err := s.Enqueue(context.Background(), core.MustEvent("OMEN_REVEALED", nil)); err != nil {
		t.Fatal(err)
	}
	runUntilIdle(t, s)
	want := []string{"First:OMEN_REVEALED", "Second:OMEN_REVEALED", "Third:OMEN_REVEALED"}
	if !slices.Equal(calls, want) {
		t.Errorf("calls: got %v, want %v", calls, want)
	}
	ops, _, _ := b.snapshot()
	wantOps := []string{"enqueue OMEN_REVEALED", "pull OMEN_REVEALED", "commit OMEN_REVEALED",
		"pull FROM_FIRST", "commit FROM_FIRST", "pull FROM_THIRD", "commit FROM_THIRD"}
	if !slices.Equal(ops, wantOps) {
		t.Errorf("backend ops:\n got  %v\n want %v", ops, wantOps)
	}
	st := s.Stats()
	if st.Pulled != 3 || st.Handled != 5 || st.Emitted != 2 || st.DeadLettered != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestEmittedEnqueuedBeforeAck(t *testing.T) {
	t.Parallel()
	b := newFIFO()
	s := newSpine(t, b, fast(), relay("Summoner", "SUMMON_RITUAL", "SPIRIT_APPEARED"), relay("Scribe", "SPIRIT_APPEARED", ""))
	if err := s.Enqueue(context.Background(), core.MustEvent("SUMMON_RITUAL", nil)); err != nil {
		t.Fatal(err)
	}
	runUntilIdle(t, s)
	ops, _, _ := b.snapshot()
	want := []string{"enqueue SUMMON_RITUAL", "pull SUMMON_RITUAL", "enqueue SPIRIT_APPEARED", "ack SUMMON_RITUAL",
		"pull SPIRIT_APPEARED", "ack SPIRIT_APPEARED"}
	if !slices.Equal(ops, want) {
		t.Errorf("ops:\n got  %v\n want %v", ops, want)
	}
}

func TestRetryThenSucceed(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	flaky := core.OrganFunc("Flaky", []string{"A"}, func(context.Context, core.Event) ([]core.Event, error) {
		if calls.Add(1) < 3 {
			return core.Emit(core.MustEvent("B", nil)), errTransient // discarded with the error
		}
		return core.Emit(core.MustEvent("B", nil)), nil
	})
	var bs atomic.Int32
	sink := core.OrganFunc("Sink", []string{"B"}, func(context.Context, core.Event) ([]core.Event, error) {
		bs.Add(1)
		return nil, nil
	})
	b := &committing{fifo: newFIFO()}
	s := newSpine(t, b, fast(), flaky, sink)
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	if got := calls.Load(); got != 3 {
		t.Errorf("calls: got %d, want 3", got)
	}
	if got := bs.Load(); got != 1 {
		t.Errorf("B handled %d times, want 1 (events returned with an error must be discarded)", got)
	}
	if _, dead, _ := b.snapshot(); len(dead) != 0 {
		t.Errorf("dead letters: %v", dead)
	}
	if st := s.Stats(); st.Failed != 2 || st.Handled != 2 {
		t.Errorf("stats: %+v", st)
	}
}

func TestFailuresDeadLetterForThatOrganOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		fn           core.HandleFunc
		attempts     int
		wantAttempts int
		wantErr      string
	}{
		{"error", func(context.Context, core.Event) ([]core.Event, error) { return nil, errors.New("the omen is unclear") },
			4, 4, "the omen is unclear"},
		{"panic", func(context.Context, core.Event) ([]core.Event, error) { panic("ectoplasm everywhere") },
			2, 2, "panic: ectoplasm everywhere"},
		{"permanent", func(context.Context, core.Event) ([]core.Event, error) {
			return nil, core.Permanent(errors.New("no such spirit"))
		}, 5, 1, "no such spirit"},
		{"invalid emitted event", func(context.Context, core.Event) ([]core.Event, error) {
			return []core.Event{{}}, nil
		}, 5, 1, "organ emitted an invalid event at index 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := fast()
			opts.Retry.MaxAttempts = tt.attempts
			var calls atomic.Int32
			failing := core.OrganFunc("Failing", []string{"A"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
				calls.Add(1)
				return tt.fn(ctx, e)
			})
			var after atomic.Int32
			b := &committing{fifo: newFIFO()}
			s := newSpine(t, b, opts, failing,
				relay("After", "A", "FROM_AFTER"),
				core.OrganFunc("Sink", []string{"FROM_AFTER"}, func(context.Context, core.Event) ([]core.Event, error) {
					after.Add(1)
					return nil, nil
				}))
			in := core.MustEvent("A", map[string]int{"n": 1})
			_ = s.Enqueue(context.Background(), in)
			runUntilIdle(t, s)
			if got := int(calls.Load()); got != tt.wantAttempts {
				t.Errorf("calls: got %d, want %d", got, tt.wantAttempts)
			}
			if after.Load() != 1 {
				t.Errorf("the organ after the failing one emitted %d events that were handled, want 1", after.Load())
			}
			_, dead, _ := b.snapshot()
			if len(dead) != 1 {
				t.Fatalf("dead letters: got %d, want 1", len(dead))
			}
			dl := dead[0]
			if dl.Organ != "Failing" || dl.Reason != core.ReasonHandlerFailed || dl.Attempts != tt.wantAttempts ||
				!strings.Contains(dl.Error, tt.wantErr) || !dl.Event.Equal(in) || dl.Time.IsZero() {
				t.Errorf("dead letter: got %+v, want organ Failing, %d attempts, error containing %q", dl, tt.wantAttempts, tt.wantErr)
			}
		})
	}
}

func TestUnroutableDeadLettered(t *testing.T) {
	t.Parallel()
	b := newFIFO()
	s := newSpine(t, b, fast(), relay("Only", "KNOWN", ""))
	_ = s.Enqueue(context.Background(), core.MustEvent("STRAY_SPIRIT", nil))
	runUntilIdle(t, s)
	ops, dead, _ := b.snapshot()
	if len(dead) != 1 || dead[0].Reason != core.ReasonUnroutable || dead[0].Organ != "" ||
		dead[0].Error != "no organ listens to STRAY_SPIRIT" {
		t.Fatalf("dead letters: %+v", dead)
	}
	if want := []string{"enqueue STRAY_SPIRIT", "pull STRAY_SPIRIT", "dead STRAY_SPIRIT", "ack STRAY_SPIRIT"}; !slices.Equal(ops, want) {
		t.Errorf("ops:\n got  %v\n want %v", ops, want)
	}
}

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

func TestSyncAndBlockingHandlers(t *testing.T) {
	t.Parallel()
	// A blocking handler is an ordinary call that waits (here on a timer,
	// as it would on I/O) and honours ctx; the Spine waits for it.
	blocking := core.OrganFunc("Medium", []string{"SPIRIT_APPEARED"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		select {
		case <-time.After(30 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return core.Emit(core.MustEvent("ANSWER_GENERATED", e.Payload())), nil
	})
	var got []string
	var mu sync.Mutex
	sink := core.OrganFunc("Scribe", []string{"ANSWER_GENERATED"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(e.Payload()))
		return nil, nil
	})
	b := &committing{fifo: newFIFO()}
	s := newSpine(t, b, fast(), relay("Summoner", "SUMMON_RITUAL", "SPIRIT_APPEARED"), blocking, sink)
	for i := range 3 {
		_ = s.Enqueue(context.Background(), core.MustEvent("SUMMON_RITUAL", map[string]int{"ritual": i}))
	}
	runUntilIdle(t, s)
	want := []string{`{"ritual":0}`, `{"ritual":1}`, `{"ritual":2}`}
	if !slices.Equal(got, want) {
		t.Errorf("answers: got %v, want %v (FIFO with concurrency 1)", got, want)
	}
}

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

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var handlerCtxErr atomic.Value
	slow := core.OrganFunc("Slow", []string{"A"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		close(started)
		time.Sleep(100 * time.Millisecond)
		handlerCtxErr.Store(fmt.Sprint(ctx.Err()))
		return core.Emit(core.MustEvent("B", nil)), nil
	})
	b := &committing{fifo: newFIFO()}
	s := newSpine(t, b, fast(), slow, relay("Sink", "B", ""))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	cancel, done := runInBackground(s)
	<-started
	cancel()
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

func TestPullErrorsBackOffAndRecover(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	b := newFIFO()
	b.pullErrs = []error{errTransient, errTransient, errTransient}
	opts := fast()
	opts.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	var handled atomic.Int32
	s := newSpine(t, b, opts, core.OrganFunc("Only", []string{"A"}, func(context.Context, core.Event) ([]core.Event, error) {
		handled.Add(1)
		return nil, nil
	}))
	_ = b.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	if handled.Load() != 1 {
		t.Fatalf("handled %d, want 1 after the backend recovered", handled.Load())
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if n := strings.Count(out, `"msg":"pull failed; backing off"`); n != 1 {
		t.Errorf("pull failure lines at Info: got %d, want 1 per outage\n%s", n, out)
	}
	if !strings.Contains(out, `"msg":"pull recovered","failures":3`) {
		t.Errorf("no recovery line:\n%s", out)
	}
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["msg"] != "pull failed; backing off" || m[core.KeyAttempt] != 1.0 {
			continue
		}
		// The first pull backoff is drawn from [25ms, 50ms].
		if ms, ok := m[core.KeyBackoff].(float64); !ok || ms < 25 || ms > 50 {
			t.Errorf("first pull failure: %s = %v, want milliseconds in [25, 50]", core.KeyBackoff, m[core.KeyBackoff])
		}
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

func TestCommitRetriedUntilItSucceeds(t *testing.T) {
	t.Parallel()
	b := &committing{fifo: newFIFO(), commitErrs: []error{errTransient, errTransient}}
	var sunk atomic.Int32
	s := newSpine(t, b, fast(), relay("Relay", "A", "B"), core.OrganFunc("Sink", []string{"B"}, func(context.Context, core.Event) ([]core.Event, error) {
		sunk.Add(1)
		return nil, nil
	}))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	if sunk.Load() != 1 {
		t.Errorf("B handled %d times, want exactly 1", sunk.Load())
	}
}

func TestNonAtomicCommitDoesNotRepeatDoneSteps(t *testing.T) {
	t.Parallel()
	b := newFIFO()
	b.ackErrs = []error{errTransient}
	s := newSpine(t, b, fast(), relay("Relay", "A", "B"), relay("Sink", "B", ""))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	ops, _, _ := b.snapshot()
	if n := slices.Index(ops, "enqueue B"); n < 0 || slices.Index(ops[n+1:], "enqueue B") >= 0 {
		t.Errorf("B enqueued other than once after a failed ack: %v", ops)
	}
}

func TestRunTwiceAtOnce(t *testing.T) {
	t.Parallel()
	b := newFIFO()
	s := newSpine(t, b, fast(), relay("Only", "A", ""))
	cancel, done := runInBackground(s)
	time.Sleep(30 * time.Millisecond)
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: got %v, want already running", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRetryPolicyBackoff(t *testing.T) {
	t.Parallel()
	p := core.RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Backoff(tt.attempt)
			if d < tt.min || d > tt.max {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", tt.attempt, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("Backoff(%d) took only %d distinct values in 200 draws: no jitter?", tt.attempt, len(seen))
		}
	}
}

func TestRetryHonoursContext(t *testing.T) {
	t.Parallel()
	// A long backoff and a forced shutdown: the retry wait ends with the
	// handler context, and the event is released, not dead-lettered.
	failed := make(chan struct{}, 1)
	b := &committing{fifo: newFIFO()}
	opts := fast()
	opts.Retry = core.RetryPolicy{MaxAttempts: 5, InitialBackoff: time.Hour, MaxBackoff: time.Hour}
	opts.ShutdownTimeout = 30 * time.Millisecond
	s := newSpine(t, b, opts, core.OrganFunc("Failing", []string{"A"}, func(context.Context, core.Event) ([]core.Event, error) {
		select {
		case failed <- struct{}{}:
		default:
		}
		return nil, errTransient
	}))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	cancel, done := runInBackground(s)
	<-failed
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run stuck in a retry backoff after shutdown")
	}
	_, dead, queued := b.snapshot()
	if len(dead) != 0 || len(queued) != 1 {
		t.Errorf("after forced shutdown: dead %v, queued %v; want the event released", dead, queued)
	}
}

func TestLostDeliveryIsNotRetried(t *testing.T) {
	t.Parallel()
	b := &committing{fifo: newFIFO(), commitErrs: []error{fmt.Errorf("commit: %w", core.ErrDeliveryLost)}}
	s := newSpine(t, b, fast(), relay("Relay", "A", "B"), relay("Sink", "B", ""))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	ops, _, queued := b.snapshot()
	if b.commits != 0 || len(queued) != 0 {
		t.Errorf("after a lost delivery: %d commits, queue %v; want the outcome discarded", b.commits, queued)
	}
	if want := []string{"enqueue A", "pull A"}; !slices.Equal(ops, want) {
		t.Errorf("ops: got %v, want %v", ops, want)
	}
}

func TestPermanentCommitErrorDeadLettersTheInput(t *testing.T) {
	t.Parallel()
	b := &committing{fifo: newFIFO(), commitErrs: []error{core.Permanent(errors.New("event too large"))}}
	s := newSpine(t, b, fast(), relay("Relay", "A", "B"), relay("Sink", "B", ""))
	in := core.MustEvent("A", nil)
	_ = s.Enqueue(context.Background(), in)
	runUntilIdle(t, s)
	_, dead, queued := b.snapshot()
	if len(queued) != 0 {
		t.Errorf("emitted events survived a rejected commit: %v", queued)
	}
	if len(dead) != 1 || dead[0].Reason != core.ReasonCommitRejected || !dead[0].Event.Equal(in) ||
		!strings.Contains(dead[0].Error, "event too large") {
		t.Errorf("dead letters: %+v", dead)
	}
}
