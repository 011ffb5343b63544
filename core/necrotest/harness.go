package necrotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

// Config configures RunWith. The zero value means every default.
type Config struct {
	// MaxSteps is the Spine's step guard. Default core.DefaultMaxSteps.
	MaxSteps int
	// MaxAttempts is the number of calls of a failing organ before the event
	// is dead-lettered for it. Default core.DefaultMaxAttempts. Retries wait
	// a microsecond, not the production backoff, so tests stay fast (see
	// Retry for the real schedule).
	MaxAttempts int
	// Retry, when set, is the organs' retry policy as in production
	// (core.Config.Retry; zero fields take core's defaults: 3 attempts,
	// 100 ms doubling up to 5 s, with jitter), in place of MaxAttempts and
	// the microsecond waits. Run the test under testing/synctest and the
	// waits pass in virtual time, at once; Trace.Calls records when each
	// call was made, so a test can check the schedule.
	Retry *core.RetryPolicy
	// MaxEventBytes bounds an event's wire form (the length of
	// Event.AppendJSON), as a production backend does: a larger seed is an
	// error of RunWith, and an emitted event larger makes the commit fail
	// for good, so the Spine dead-letters the input
	// (core.ReasonCommitRejected) for the organ that emitted it, as the
	// Redis backend would. Default DefaultMaxEventBytes; negative for no
	// limit.
	MaxEventBytes int
	// Timeout bounds the whole run. Default 30s.
	Timeout time.Duration
	// Logger receives the Spine's logs. Default: discarded.
	Logger *slog.Logger
}

// DefaultMaxEventBytes is the default Config.MaxEventBytes: 1 MiB, the same
// as the Redis backend's default (redis.DefaultMaxEventBytes, which a test
// of that backend checks), so that what passes in the harness is not
// refused in production.
const DefaultMaxEventBytes = 1 << 20

// Run runs organs from seeds until nothing is left to handle, on an in-process
// queue, with one event at a time in FIFO order, so the chain it records is the
// same on every run. It fails t if the organs are rejected or the run stops
// with an error (max steps included: use RunWith to test that).
func Run(t testing.TB, organs []core.Organ, seeds ...core.Event) *Trace {
	t.Helper()
	tr, err := RunWith(context.Background(), Config{}, organs, seeds...)
	if err != nil {
		t.Fatalf("necrotest.Run: %v", err)
	}
	return tr
}

// RunWith is Run with options and a context. It returns the Trace recorded so
// far along with any error, such as core.ErrMaxStepsExceeded.
func RunWith(ctx context.Context, opts Config, organs []core.Organ, seeds ...core.Event) (*Trace, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case opts.MaxEventBytes == 0:
		opts.MaxEventBytes = DefaultMaxEventBytes
	case opts.MaxEventBytes < 0:
		opts.MaxEventBytes = 0
	}
	if opts.Retry != nil && opts.MaxAttempts != 0 {
		return nil, errors.New("necrotest: Config.MaxAttempts and Config.Retry both set: set Retry.MaxAttempts")
	}
	retry := core.RetryPolicy{MaxAttempts: opts.MaxAttempts, InitialBackoff: time.Microsecond, MaxBackoff: time.Microsecond}
	if opts.Retry != nil {
		retry = *opts.Retry
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	q := &queue{trace: &Trace{index: map[string]int{}, start: time.Now()}, pending: map[string][]emission{}, attempts: map[callKey]int{}, maxBytes: opts.MaxEventBytes}
	cfg := core.Config{
		MaxSteps:    opts.MaxSteps,
		Concurrency: 1,
		PullTimeout: time.Nanosecond,
		Retry:       retry,
		Logger:      opts.Logger,
		// Each organ behind a recorder, which NewSpine puts on after it
		// has checked the organs themselves.
		Middleware: []core.Middleware{func(o core.Organ) core.Organ {
			return &recorder{inner: o, name: core.OrganName(o), q: q}
		}},
	}
	spine, err := core.NewSpine(q, organs, cfg)
	if err != nil {
		return nil, err
	}
	for _, s := range seeds {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("necrotest: seed: %w", err)
		}
		if err := q.checkSize(s); err != nil {
			return nil, fmt.Errorf("necrotest: seed: %w", err)
		}
		q.push(s, "", "")
	}
	err = spine.RunUntilIdle(ctx)
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("necrotest: run did not quiesce: %w", ctx.Err())
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trace.Err = err
	return q.trace, err
}

// emission is what one organ's call emitted: how many events, which the
// Spine commits in the order the organs ran.
type emission struct {
	organ string
	n     int
}

// queue is the harness's backend: a FIFO that returns at once when empty,
// which is quiescence since only the Spine feeds it.
type queue struct {
	mu      sync.Mutex
	items   []core.Event
	trace   *Trace
	pending map[string][]emission // by input event id, until committed
	// attempts counts the calls of each organ for each event.
	attempts map[callKey]int
	// maxBytes bounds an event's wire form (0: no bound); wire is the
	// buffer it is measured in.
	maxBytes int
	wire     []byte
}

// checkSize refuses e, as a backend refusing it for good would, when its
// wire form is longer than maxBytes. It needs q.mu or q to itself.
func (q *queue) checkSize(e core.Event) error {
	if q.maxBytes == 0 {
		return nil
	}
	q.wire = e.AppendJSON(q.wire[:0])
	if n := len(q.wire); n > q.maxBytes {
		return &core.RejectedEventError{EventID: e.ID(),
			Err: fmt.Errorf("event %s is %d bytes, more than MaxEventBytes (%d)", e, n, q.maxBytes)}
	}
	return nil
}

func (q *queue) push(e core.Event, parent, organ string) {
	depth := 0
	if i, ok := q.trace.index[parent]; ok && parent != "" {
		depth = q.trace.Records[i].Depth + 1
	}
	q.trace.index[e.ID()] = len(q.trace.Records)
	q.trace.Records = append(q.trace.Records, Record{Event: e, Parent: parent, Organ: organ, Depth: depth})
	q.items = append(q.items, e)
}

func (q *queue) Enqueue(_ context.Context, e core.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.checkSize(e); err != nil {
		return err
	}
	q.push(e, "", "")
	return nil
}

func (q *queue) Pull(ctx context.Context, _ time.Duration) (core.Delivery, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return core.Delivery{}, false, ctx.Err()
	}
	e := q.items[0]
	q.items = q.items[1:]
	q.trace.Steps++
	return core.Delivery{Event: e, Attempt: 1}, true, nil
}

func (q *queue) Ack(context.Context, core.Delivery) error { return nil }

func (q *queue) Commit(_ context.Context, d core.Delivery, out core.Outcome) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range out.Emitted {
		if err := q.checkSize(e); err != nil {
			return err // the Spine commits the input's dead letter instead
		}
	}
	id := d.Event.ID()
	if len(out.Emitted) > 0 { // none when the outcome is a rejected one's dead letter
		// The events as the Spine commits them, with their lineage; the
		// recorders saw them in the same order, organ by organ.
		k := 0
		for _, em := range q.pending[id] {
			for _, e := range out.Emitted[min(k, len(out.Emitted)):min(k+em.n, len(out.Emitted))] {
				q.push(e, id, em.organ)
			}
			k += em.n
		}
	}
	delete(q.pending, id)
	q.trace.DeadLetters = append(q.trace.DeadLetters, out.DeadLetters...)
	return nil
}

func (q *queue) Release(_ context.Context, d core.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.pending, d.Event.ID())
	q.items = append([]core.Event{d.Event}, q.items...)
	q.trace.Steps--
	return nil
}

// callKey is an organ's calls for one event.
type callKey struct{ organ, event string }

// startCall records that organ was called for event, now, and returns the
// call's index in the trace.
func (q *queue) startCall(organ, event string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := callKey{organ, event}
	q.attempts[k]++
	q.trace.Calls = append(q.trace.Calls, Call{Organ: organ, Event: event, Attempt: q.attempts[k], At: time.Since(q.trace.start)})
	return len(q.trace.Calls) - 1
}

// endCall records what call i returned.
func (q *queue) endCall(i int, emitted []core.Event, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trace.Calls[i].Emitted, q.trace.Calls[i].Err = emitted, err
}

// recorder remembers what each organ emitted so the queue can attribute the
// events when the delivery commits.
type recorder struct {
	inner core.Organ
	name  string
	q     *queue
}

func (r *recorder) Name() string      { return r.name }
func (r *recorder) Listens() []string { return r.inner.Listens() }

func (r *recorder) Handle(ctx context.Context, e core.Event) (out []core.Event, err error) {
	call := r.q.startCall(r.name, e.ID())
	defer func() {
		if p := recover(); p != nil {
			r.q.endCall(call, nil, &core.PanicError{Value: p, Stack: debug.Stack()})
			panic(p) // the Spine's own recovery takes it from here
		}
	}()
	out, err = r.inner.Handle(ctx, e)
	r.q.endCall(call, out, err)
	if err != nil {
		return out, err
	}
	for _, ev := range out {
		if ev.Validate() != nil {
			return out, nil // the Spine rejects the call; record nothing
		}
	}
	r.q.mu.Lock()
	defer r.q.mu.Unlock()
	r.q.pending[e.ID()] = append(r.q.pending[e.ID()], emission{organ: r.name, n: len(out)})
	if i, ok := r.q.trace.index[e.ID()]; ok {
		rec := &r.q.trace.Records[i]
		rec.HandledBy = append(rec.HandledBy, r.name)
	}
	return out, nil
}
