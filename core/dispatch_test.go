package core_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

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

// A call that runs longer than HandlerTimeout has its context cancelled, and
// the error it returns is a failure that names the timeout: retried, then
// dead-lettered. A quick organ on the same Spine is not affected.
func TestHandlerTimeout(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	hung := core.OrganFunc("Hung", []string{"A"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		calls.Add(1)
		<-ctx.Done() // until the Spine gives up on it
		return nil, ctx.Err()
	})
	b := &committing{fifo: newFIFO()}
	opts := fast()
	opts.HandlerTimeout = 20 * time.Millisecond
	s := newSpine(t, b, opts, hung, relay("Quick", "B", ""))
	if err := s.Enqueue(context.Background(), core.MustEvent("A", nil), core.MustEvent("B", nil)); err != nil {
		t.Fatal(err)
	}
	runUntilIdle(t, s)
	if n := calls.Load(); n != 3 {
		t.Errorf("the hung organ was called %d times, want 3 (every attempt)", n)
	}
	_, dead, _ := b.snapshot()
	if len(dead) != 1 || dead[0].Organ != "Hung" || !strings.Contains(dead[0].Error, "ran longer than HandlerTimeout (20ms)") {
		t.Fatalf("dead letters: %+v, want one for Hung naming the timeout", dead)
	}
	if st := s.Stats(); st.Handled != 1 || st.Failed != 3 {
		t.Errorf("stats: %+v, want the quick organ handled once and 3 failed calls", st)
	}
}
