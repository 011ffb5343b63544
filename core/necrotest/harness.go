package necrotest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
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
	// Concurrency is how many events the Spine handles at once
	// (core.Config.Concurrency). Default 1. Above 1 the order in which
	// events are enqueued, and so Records, varies from run to run: compare
	// runs with Canonical or Golden, which look only at lineage (which
	// event descends from which), a partial order.
	Concurrency int
	// Shuffle, when not 0, seeds the order events are pulled in: each pull
	// takes one of the events waiting at random, from this seed, rather
	// than the oldest. At Concurrency 1 a seed gives the same interleaving
	// on every run, so a test can try several and replay the one that
	// failed; above 1 the goroutines' scheduling adds its own. Not with
	// Backend, which pulls in its own order.
	Shuffle uint64
	// Backend, when set, is what the chain runs over instead of the
	// in-process queue: a fresh, empty backend of the test's, such as the
	// Redis backend on miniredis (redistest.Miniredis), so that a chain's
	// test goes through that backend's commit path too. It must be a
	// core.Committer and a core.Releaser; the Spine commits in batches when
	// it is a core.BatchCommitter, as in production. The backend's own
	// event size bound applies, not MaxEventBytes. RunWith does not close
	// it. Under testing/synctest make it inside the bubble (the memory
	// backend works there; a network one does not): a backend made outside
	// waits on what the bubble cannot see, and the run never ends.
	Backend core.Backend
	// PullTimeout is how long a pull from Backend waits for an event
	// before the run counts as quiet (nothing in flight and nothing to
	// pull). Default 100ms. The in-process queue needs none: it knows.
	PullTimeout time.Duration
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

	q := &queue{trace: &Trace{index: map[string]int{}, start: time.Now()}, pending: map[string][]emission{},
		attempts: map[callKey]int{}, maxBytes: opts.MaxEventBytes, wake: make(chan struct{})}
	if opts.Shuffle != 0 {
		q.rng = rand.New(rand.NewPCG(opts.Shuffle, opts.Shuffle))
	}
	backend, pullTimeout, err := q.over(opts)
	if err != nil {
		return nil, err
	}
	cfg := core.Config{
		MaxSteps:    opts.MaxSteps,
		Concurrency: opts.Concurrency,
		PullTimeout: pullTimeout,
		Retry:       retry,
		Logger:      opts.Logger,
		// Each organ behind a recorder, which NewSpine puts on after it
		// has checked the organs themselves.
		Middleware: []core.Middleware{func(o core.Organ) core.Organ {
			if f, ok := o.(*Fake); ok {
				f.runIn(q.trace)
			}
			return &recorder{inner: o, name: core.OrganName(o), q: q}
		}},
	}
	spine, err := core.NewSpine(backend, organs, cfg)
	if err != nil {
		return nil, err
	}
	for _, s := range seeds {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("necrotest: seed: %w", err)
		}
		if err := backend.Enqueue(ctx, s); err != nil {
			return nil, fmt.Errorf("necrotest: seed: %w", err)
		}
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

// queue is the harness's backend: a FIFO (or, with a rng, a shuffle) that
// returns at once when nothing is waiting and nothing is in flight, which
// is quiescence since only the Spine feeds it; and the recorder of the
// trace, which a tap over a Config.Backend uses alone.
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
	// inFlight counts the events pulled and not yet committed or
	// released; wake is closed, and replaced, when an event is pushed or
	// one in flight settles, for a Pull waiting on either.
	inFlight int
	wake     chan struct{}
	rng      *rand.Rand // nil: FIFO
}

// over returns the backend the Spine runs on, and its pull timeout: q
// itself, or q wrapped around opts.Backend.
func (q *queue) over(opts Config) (core.Backend, time.Duration, error) {
	if opts.Backend == nil {
		return q, time.Nanosecond, nil
	}
	if opts.Shuffle != 0 {
		return nil, 0, errors.New("necrotest: Config.Shuffle orders the in-process queue; a Config.Backend pulls in its own order")
	}
	t := &tap{q: q, inner: opts.Backend}
	var ok bool
	if t.commit, ok = opts.Backend.(core.Committer); !ok {
		return nil, 0, fmt.Errorf("necrotest: Config.Backend %T is not a core.Committer", opts.Backend)
	}
	if t.release, ok = opts.Backend.(core.Releaser); !ok {
		return nil, 0, fmt.Errorf("necrotest: Config.Backend %T is not a core.Releaser", opts.Backend)
	}
	timeout := cmp.Or(opts.PullTimeout, 100*time.Millisecond)
	if batch, ok := opts.Backend.(core.BatchCommitter); ok {
		return batchTap{t, batch}, timeout, nil
	}
	return t, timeout, nil
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

// record adds e to the trace. It needs q.mu.
func (q *queue) record(e core.Event, parent, organ string) {
	depth := 0
	if i, ok := q.trace.index[parent]; ok && parent != "" {
		depth = q.trace.Records[i].Depth + 1
	}
	q.trace.index[e.ID()] = len(q.trace.Records)
	q.trace.Records = append(q.trace.Records, Record{Event: e, Parent: parent, Organ: organ, Depth: depth})
}

// signal wakes the Pulls waiting. It needs q.mu.
func (q *queue) signal() {
	close(q.wake)
	q.wake = make(chan struct{})
}

func (q *queue) Enqueue(_ context.Context, e core.Event) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.checkSize(e); err != nil {
		return err
	}
	q.record(e, "", "")
	q.items = append(q.items, e)
	q.signal()
	return nil
}

func (q *queue) Pull(ctx context.Context, _ time.Duration) (core.Delivery, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 {
		if q.inFlight == 0 {
			return core.Delivery{}, false, ctx.Err()
		}
		// Something in flight may yet emit: wait for it, blocked (and so
		// durably, for testing/synctest) rather than polling.
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
		}
		q.mu.Lock()
		if ctx.Err() != nil {
			return core.Delivery{}, false, ctx.Err()
		}
	}
	i := 0
	if q.rng != nil {
		i = q.rng.IntN(len(q.items))
	}
	e := q.items[i]
	q.items = slices.Delete(q.items, i, i+1)
	q.trace.Steps++
	q.inFlight++
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
	q.committed(d, out)
	q.items = append(q.items, out.Emitted...)
	q.inFlight--
	q.signal()
	return nil
}

// committed records what the commit of d wrote. It needs q.mu.
func (q *queue) committed(d core.Delivery, out core.Outcome) {
	id := d.Event.ID()
	if len(out.Emitted) > 0 { // none when the outcome is a rejected one's dead letter
		// The events as the Spine commits them, with their lineage; the
		// recorders saw them in the same order, organ by organ.
		k := 0
		for _, em := range q.pending[id] {
			for _, e := range out.Emitted[min(k, len(out.Emitted)):min(k+em.n, len(out.Emitted))] {
				q.record(e, id, em.organ)
			}
			k += em.n
		}
	}
	delete(q.pending, id)
	q.trace.DeadLetters = append(q.trace.DeadLetters, out.DeadLetters...)
}

func (q *queue) Release(_ context.Context, d core.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.released(d)
	q.items = append([]core.Event{d.Event}, q.items...)
	q.inFlight--
	q.signal()
	return nil
}

// released forgets what d's handling emitted, and its step. It needs q.mu.
func (q *queue) released(d core.Delivery) {
	delete(q.pending, d.Event.ID())
	q.trace.Steps--
}

// tap runs the chain over a Config.Backend, recording through the queue
// what it pulls and commits. batchTap is a tap over a BatchCommitter, so
// that the Spine batches as it would in production.
type tap struct {
	q       *queue
	inner   core.Backend
	commit  core.Committer
	release core.Releaser
}

type batchTap struct {
	*tap
	batch core.BatchCommitter
}

func (t *tap) Enqueue(ctx context.Context, e core.Event) error {
	if err := t.inner.Enqueue(ctx, e); err != nil {
		return err
	}
	t.q.mu.Lock()
	defer t.q.mu.Unlock()
	t.q.record(e, "", "")
	return nil
}

func (t *tap) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	d, ok, err := t.inner.Pull(ctx, timeout)
	if ok {
		t.q.mu.Lock()
		t.q.trace.Steps++
		t.q.mu.Unlock()
	}
	return d, ok, err
}

func (t *tap) Ack(ctx context.Context, d core.Delivery) error { return t.inner.Ack(ctx, d) }

func (t *tap) Commit(ctx context.Context, d core.Delivery, out core.Outcome) error {
	// Held across the commit, so that no handler pulls an emitted event
	// before it is recorded under its parent.
	t.q.mu.Lock()
	defer t.q.mu.Unlock()
	if err := t.commit.Commit(ctx, d, out); err != nil {
		return err
	}
	t.q.committed(d, out)
	return nil
}

func (t *tap) Release(ctx context.Context, d core.Delivery) error {
	if err := t.release.Release(ctx, d); err != nil {
		return err
	}
	t.q.mu.Lock()
	defer t.q.mu.Unlock()
	t.q.released(d)
	return nil
}

func (t batchTap) CommitBatch(ctx context.Context, commits []core.Commit) []error {
	t.q.mu.Lock() // across the commit, as in Commit
	defer t.q.mu.Unlock()
	errs := t.batch.CommitBatch(ctx, commits)
	for i, c := range commits {
		if errs == nil || errs[i] == nil {
			t.q.committed(c.Delivery, c.Outcome)
		}
	}
	return errs
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
