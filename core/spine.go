package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Stats counts what a Spine has done since it was built.
type Stats struct {
	Pulled       int64 // deliveries pulled (released ones included)
	Handled      int64 // successful organ calls
	Failed       int64 // failed organ calls, retries included
	Emitted      int64 // events emitted and committed
	DeadLettered int64 // dead letters committed
}

type organEntry struct {
	organ Organ
	name  string
}

// Spine pulls events from a Backend, dispatches each to the organs that
// listen to its type, in the order they were given, and commits what they
// emit together with the acknowledgement of the input.
//
// A Spine is safe for concurrent use, but runs one Run or RunUntilIdle at a
// time.
type Spine struct {
	backend  Backend
	commit   Committer
	batch    BatchCommitter
	dead     DeadLetterer
	release  Releaser
	organs   []organEntry
	routes   map[string][]int
	opts     Config
	log      *slog.Logger
	running  atomic.Bool
	pulled   atomic.Int64
	handled  atomic.Int64
	failed   atomic.Int64
	emitted  atomic.Int64
	deadLets atomic.Int64
}

// NewSpine builds a Spine over backend for organs, which receive each event
// in the order given. It rejects a nil backend, an empty organ list, a nil
// organ, an organ with no or invalid event types, and duplicate organ names,
// with an error that names the organ.
func NewSpine(backend Backend, organs []Organ, opts Config) (*Spine, error) {
	if backend == nil {
		return nil, errors.New("spine: backend is nil")
	}
	if len(organs) == 0 {
		return nil, errors.New("spine: at least one organ is required")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Spine{backend: backend, opts: o, log: o.Logger, routes: make(map[string][]int)}
	s.commit, _ = backend.(Committer)
	s.batch, _ = backend.(BatchCommitter)
	s.dead, _ = backend.(DeadLetterer)
	s.release, _ = backend.(Releaser)
	names := make(map[string]int, len(organs))
	for i, org := range organs {
		if org == nil {
			return nil, fmt.Errorf("spine: organ #%d is nil", i)
		}
		name := OrganName(org)
		if name == "" {
			return nil, fmt.Errorf("spine: organ #%d (%T) has an empty name", i, org)
		}
		if j, dup := names[name]; dup {
			return nil, fmt.Errorf("spine: organ #%d and #%d are both named %q: names must be unique", j, i, name)
		}
		names[name] = i
		listens := org.Listens()
		if len(listens) == 0 {
			return nil, fmt.Errorf("spine: organ %q listens to no event type", name)
		}
		seen := make(map[string]bool, len(listens))
		for _, t := range listens {
			if err := ValidateEventType(t); err != nil {
				return nil, fmt.Errorf("spine: organ %q: %w", name, err)
			}
			if seen[t] {
				continue
			}
			seen[t] = true
			s.routes[t] = append(s.routes[t], len(s.organs))
		}
		s.organs = append(s.organs, organEntry{organ: org, name: name})
	}
	return s, nil
}

// Enqueue validates events and enqueues them on the backend, in order. It is
// how a program seeds a chain.
func (s *Spine) Enqueue(ctx context.Context, events ...Event) error {
	for _, e := range events {
		if err := e.Validate(); err != nil {
			return err
		}
		if err := s.backend.Enqueue(ctx, e); err != nil {
			return fmt.Errorf("enqueue %s: %w", e, err)
		}
	}
	return nil
}

// Stats returns the Spine's counters.
func (s *Spine) Stats() Stats {
	return Stats{
		Pulled:       s.pulled.Load(),
		Handled:      s.handled.Load(),
		Failed:       s.failed.Load(),
		Emitted:      s.emitted.Load(),
		DeadLettered: s.deadLets.Load(),
	}
}

// Run pulls and handles events until ctx is cancelled, MaxSteps is exceeded
// (ErrMaxStepsExceeded) or the backend is closed (an error wrapping
// ErrClosed). A cancelled ctx is a normal stop: Run stops pulling, lets the
// events in flight finish within ShutdownTimeout, commits them and returns
// nil. No goroutine started by Run outlives it.
func (s *Spine) Run(ctx context.Context) error { return s.run(ctx, false) }

// RunUntilIdle is Run that also returns nil once a pull has waited
// PullTimeout while no event was in flight: the chain has quiesced. It is
// meant for batch jobs, demos and tests on backends that only this process
// feeds.
func (s *Spine) RunUntilIdle(ctx context.Context) error { return s.run(ctx, true) }

func (s *Spine) run(ctx context.Context, untilIdle bool) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("spine: already running")
	}
	defer s.running.Store(false)

	// Handlers outlive the pull loop by up to ShutdownTimeout, so they get
	// their own context, cancelled by the watcher below only when that runs
	// out.
	handleCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	handlersDone := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-handlersDone:
			return
		case <-loopCtx.Done():
		}
		t := time.NewTimer(s.opts.ShutdownTimeout)
		defer t.Stop()
		select {
		case <-handlersDone:
		case <-t.C:
			s.log.LogAttrs(ctx, slog.LevelWarn, "shutdown timeout: cancelling in-flight handlers",
				millis(KeyDuration, s.opts.ShutdownTimeout))
			cancelHandlers()
		}
	}()

	var (
		steps     int
		wg        sync.WaitGroup
		inflight  atomic.Int64
		slots     = make(chan struct{}, s.opts.Concurrency)
		pullFails int
		result    error
	)
	parallel := s.opts.Concurrency > 1
	finish := func() { inflight.Add(-1) }
	var bat *batcher
	if s.batch != nil {
		bat = newBatcher(s, handleCtx)
	}
	// With Concurrency > 1, long-lived handler goroutines take deliveries
	// from the loop: a goroutine per delivery would grow a fresh stack for
	// each (a third of the CPU time of a quick chain).
	var work chan Delivery
	stopWork := func() {}
	if parallel {
		work = make(chan Delivery)
		stopWork = sync.OnceFunc(func() { close(work) })
		defer stopWork() // also if Pull panics
		for range s.opts.Concurrency {
			wg.Go(func() {
				for d := range work {
					s.handle(handleCtx, d, bat, finish)
					<-slots
				}
			})
		}
	}

loop:
	for loopCtx.Err() == nil {
		if parallel {
			select {
			case slots <- struct{}{}:
			case <-loopCtx.Done():
				break loop
			}
		}
		// Only this loop starts work, so with nothing in flight before the
		// pull, nothing can have finished (and emitted) during it.
		idleBefore := inflight.Load() == 0
		d, ok, err := s.backend.Pull(loopCtx, s.opts.PullTimeout)
		if !ok || err != nil {
			if parallel {
				<-slots
			}
		}
		if err != nil {
			if loopCtx.Err() != nil {
				break
			}
			if errors.Is(err, ErrClosed) {
				result = fmt.Errorf("spine: pull: %w", err)
				break
			}
			pullFails++
			s.pullFailed(loopCtx, err, pullFails)
			continue
		}
		if pullFails > 0 {
			s.log.LogAttrs(ctx, slog.LevelInfo, "pull recovered", slog.Int(KeyFailures, pullFails))
			pullFails = 0
		}
		if !ok {
			if untilIdle && idleBefore {
				break
			}
			continue
		}
		steps++
		if s.opts.MaxSteps != NoStepLimit && steps > s.opts.MaxSteps {
			if parallel {
				<-slots
			}
			s.releaseDelivery(d)
			s.log.LogAttrs(ctx, slog.LevelError, "max steps exceeded",
				slog.Int(KeySteps, s.opts.MaxSteps), slog.String(KeyEventID, d.Event.ID()),
				slog.String(KeyEventType, d.Event.Type()))
			result = ErrMaxStepsExceeded
			break
		}
		s.pulled.Add(1)
		inflight.Add(1)
		if !parallel {
			s.handle(handleCtx, d, bat, finish)
			continue
		}
		work <- d // a slot is held, so a handler goroutine is free or about to be
	}

	stopLoop()
	stopWork()
	wg.Wait()
	if bat != nil {
		bat.close()
	}
	close(handlersDone)
	<-watcherDone
	return result
}

// handle processes d and commits the outcome: at once, or through the
// batcher when the backend commits in batches. finish runs when d is done
// with, committed or not.
func (s *Spine) handle(ctx context.Context, d Delivery, bat *batcher, finish func()) {
	out, ok := s.process(ctx, d)
	switch {
	case !ok:
		finish()
	case bat != nil:
		bat.add(pendingCommit{d: d, out: out, finish: finish})
	default:
		s.commitOutcome(ctx, d, out)
		finish()
	}
}

func (s *Spine) pullFailed(ctx context.Context, err error, fails int) {
	wait := commitBackoff.Backoff(fails)
	level := slog.LevelDebug
	if fails == 1 {
		level = slog.LevelWarn
	}
	s.log.LogAttrs(ctx, level, "pull failed; backing off",
		slog.String(KeyError, err.Error()), slog.Int(KeyAttempt, fails), millis(KeyBackoff, wait))
	sleep(ctx, wait)
}

// sleep waits for d or until ctx is done, and reports whether it slept the
// whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// process handles one delivery with every organ that listens to it and
// returns the outcome to commit. If ctx is cancelled before that (a forced
// shutdown), it releases the delivery instead and returns false.
func (s *Spine) process(ctx context.Context, d Delivery) (Outcome, bool) {
	e := d.Event
	var out Outcome
	idxs := s.routes[e.Type()]
	if len(idxs) == 0 {
		out.DeadLetters = append(out.DeadLetters, DeadLetter{
			Event: e, Reason: ReasonUnroutable, Time: time.Now().UTC(),
			Error: "no organ listens to " + e.Type(),
		})
		s.log.LogAttrs(ctx, slog.LevelWarn, "unroutable event dead-lettered",
			slog.String(KeyEventID, e.ID()), slog.String(KeyEventType, e.Type()))
	}
	for _, i := range idxs {
		org := s.organs[i]
		emitted, attempts, err := s.invoke(ctx, org, e)
		if err != nil {
			if ctx.Err() != nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "handler interrupted by shutdown; event released",
					slog.String(KeyEventID, e.ID()), slog.String(KeyEventType, e.Type()),
					slog.String(KeyOrgan, org.name), slog.String(KeyError, err.Error()))
				s.releaseDelivery(d)
				return Outcome{}, false
			}
			out.DeadLetters = append(out.DeadLetters, DeadLetter{
				Event: e, Organ: org.name, Reason: ReasonHandlerFailed, Error: err.Error(),
				Attempts: attempts, Time: time.Now().UTC(),
			})
			s.log.LogAttrs(ctx, slog.LevelError, "handler failed; event dead-lettered for organ",
				slog.String(KeyEventID, e.ID()), slog.String(KeyEventType, e.Type()),
				slog.String(KeyOrgan, org.name), slog.Int(KeyAttempt, attempts), slog.String(KeyError, err.Error()))
			continue
		}
		if out.Emitted == nil {
			out.Emitted = emitted // the common case, one organ: no copy
		} else {
			out.Emitted = append(out.Emitted, emitted...)
		}
	}
	return out, true
}

// invoke calls org until it succeeds, fails permanently, runs out of
// attempts or ctx is done.
func (s *Spine) invoke(ctx context.Context, org organEntry, e Event) ([]Event, int, error) {
	debug := s.log.Enabled(ctx, slog.LevelDebug)
	for attempt := 1; ; attempt++ {
		var start time.Time
		if debug {
			start = time.Now()
		}
		emitted, err := callOrgan(ctx, org.organ, e)
		if err == nil {
			for i, ev := range emitted {
				if verr := ev.Validate(); verr != nil {
					err = Permanent(fmt.Errorf("organ emitted an invalid event at index %d: %w", i, verr))
					break
				}
			}
		}
		if err == nil {
			s.handled.Add(1)
			if debug {
				s.log.LogAttrs(ctx, slog.LevelDebug, "handled",
					slog.String(KeyEventID, e.ID()), slog.String(KeyEventType, e.Type()),
					slog.String(KeyOrgan, org.name), slog.Int(KeyEmitted, len(emitted)),
					millis(KeyDuration, time.Since(start)), slog.Int(KeyAttempt, attempt))
			}
			return emitted, attempt, nil
		}
		s.failed.Add(1)
		if errors.Is(err, ErrPermanent) || attempt >= s.opts.Retry.MaxAttempts || ctx.Err() != nil {
			return nil, attempt, err
		}
		wait := s.opts.Retry.Backoff(attempt)
		s.log.LogAttrs(ctx, slog.LevelWarn, "handler failed; retrying",
			slog.String(KeyEventID, e.ID()), slog.String(KeyEventType, e.Type()),
			slog.String(KeyOrgan, org.name), slog.Int(KeyAttempt, attempt),
			slog.String(KeyError, err.Error()), millis(KeyBackoff, wait))
		if !sleep(ctx, wait) {
			return nil, attempt, err
		}
	}
}

// PanicError is the error a recovered organ panic becomes.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

func callOrgan(ctx context.Context, o Organ, e Event) (emitted []Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			emitted, err = nil, &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return o.Handle(ctx, e)
}

// commitOutcome records out and acknowledges d, retrying transient backend
// failures until it succeeds or ctx is done. Where the backend cannot commit
// atomically, the steps already done are not repeated.
func (s *Spine) commitOutcome(ctx context.Context, d Delivery, out Outcome) {
	var err error
	enqueued, deadDone := 0, 0
	rejected := false
	for attempt := 1; ; attempt++ {
		if s.commit != nil {
			err = s.commit.Commit(ctx, d, out)
		} else {
			err = nil
			for enqueued < len(out.Emitted) && err == nil {
				if err = s.backend.Enqueue(ctx, out.Emitted[enqueued]); err == nil {
					enqueued++
				}
			}
			for deadDone < len(out.DeadLetters) && err == nil {
				if err = s.deadLetter(ctx, out.DeadLetters[deadDone]); err == nil {
					deadDone++
				}
			}
			if err == nil {
				err = s.backend.Ack(ctx, d)
			}
		}
		retry, newOut := s.commitFailed(ctx, d, out, err, attempt, &rejected, nil)
		if !retry {
			return
		}
		if newOut != nil {
			out, enqueued, deadDone = *newOut, 0, 0
			continue
		}
		sleep(ctx, commitBackoff.Backoff(attempt))
	}
}

var commitBackoff = RetryPolicy{InitialBackoff: 50 * time.Millisecond, MaxBackoff: 5 * time.Second}

// commitFailed accounts for the result err of committing out for d, and says
// whether to try again; with a new outcome to commit instead when the
// backend rejected out for good (then without waiting).
func (s *Spine) commitFailed(ctx context.Context, d Delivery, out Outcome, err error, attempt int, rejected *bool, cl *commitLog) (bool, *Outcome) {
	if err == nil {
		s.emitted.Add(int64(len(out.Emitted)))
		s.deadLets.Add(int64(len(out.DeadLetters)))
		return false, nil
	}
	attrs := []slog.Attr{
		slog.String(KeyEventID, d.Event.ID()), slog.String(KeyEventType, d.Event.Type()),
		slog.Int(KeyAttempt, attempt), slog.String(KeyError, err.Error()),
	}
	switch {
	case errors.Is(err, ErrClosed):
		s.logCommit(ctx, cl, slog.LevelError, "commit abandoned: backend closed; the event stays unacknowledged", attrs...)
		return false, nil
	case errors.Is(err, ErrDeliveryLost) && attempt > 1:
		// After a failed attempt, most likely that attempt did commit and
		// only its answer was lost.
		s.logCommit(ctx, cl, slog.LevelInfo, "commit retry found the delivery gone: committed by an earlier attempt whose answer was lost, or reclaimed by another consumer", attrs...)
		return false, nil
	case errors.Is(err, ErrDeliveryLost):
		s.logCommit(ctx, cl, slog.LevelWarn, "commit discarded: the backend no longer holds this delivery", attrs...)
		return false, nil
	case errors.Is(err, ErrPermanent) && *rejected:
		// Even the dead letter is refused: leave the event unacknowledged.
		s.logCommit(ctx, cl, slog.LevelError, "commit of the dead letter rejected too; event released", attrs...)
		s.releaseDelivery(d)
		return false, nil
	case errors.Is(err, ErrPermanent):
		// Retrying cannot help: keep the input, as a dead letter, and drop
		// what its organs emitted.
		s.logCommit(ctx, cl, slog.LevelError, "commit rejected; input dead-lettered", attrs...)
		*rejected = true
		return true, &Outcome{DeadLetters: []DeadLetter{{
			Event: d.Event, Reason: ReasonCommitRejected, Error: err.Error(), Attempts: attempt, Time: time.Now().UTC(),
		}}}
	case ctx.Err() != nil:
		s.logCommit(ctx, cl, slog.LevelError, "commit abandoned at shutdown; event released", attrs...)
		s.releaseDelivery(d)
		return false, nil
	}
	level := slog.LevelDebug
	if attempt == 1 {
		level = slog.LevelWarn // once per failing commit, not once per retry
	}
	s.logCommit(ctx, cl, level, "commit failed; retrying", attrs...)
	return true, nil
}

// commitLog gathers the log lines of one round of a batch commit, so that a
// batch failing for one reason (Redis down) says so once, with a count, not
// once per commit.
type commitLog struct {
	lines []commitLine
}

type commitLine struct {
	level slog.Level
	msg   string
	attrs []slog.Attr // the first commit's
	n     int
}

// logCommit logs a line about one commit now, or into cl when it is set.
func (s *Spine) logCommit(ctx context.Context, cl *commitLog, level slog.Level, msg string, attrs ...slog.Attr) {
	if cl == nil {
		s.log.LogAttrs(ctx, level, msg, attrs...)
		return
	}
	for i := range cl.lines {
		if l := &cl.lines[i]; l.msg == msg && l.level == level {
			l.n++
			return
		}
	}
	cl.lines = append(cl.lines, commitLine{level: level, msg: msg, attrs: attrs, n: 1})
}

// flush logs the gathered lines: each once, with the first commit's
// details and how many commits it stands for.
func (cl *commitLog) flush(ctx context.Context, log *slog.Logger) {
	for _, l := range cl.lines {
		attrs := l.attrs
		if l.n > 1 {
			attrs = append(attrs, slog.Int(KeyCommits, l.n))
		}
		log.LogAttrs(ctx, l.level, l.msg, attrs...)
	}
	cl.lines = cl.lines[:0]
}

func (s *Spine) deadLetter(ctx context.Context, dl DeadLetter) error {
	if s.dead != nil {
		return s.dead.DeadLetter(ctx, dl)
	}
	// Nowhere to keep it: the log is the record, at Error with everything
	// needed to replay the event.
	wire, _ := dl.Event.MarshalJSON()
	s.log.LogAttrs(ctx, slog.LevelError, "dead letter (backend keeps none)",
		slog.String(KeyOrgan, dl.Organ), slog.String(KeyReason, dl.Reason),
		slog.String(KeyError, dl.Error), slog.Int(KeyAttempt, dl.Attempts),
		slog.String(KeyEvent, string(wire)))
	return nil
}

func (s *Spine) releaseDelivery(d Delivery) {
	if s.release == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.release.Release(ctx, d); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "release failed",
			slog.String(KeyEventID, d.Event.ID()), slog.String(KeyError, err.Error()))
	}
}
