package core

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// pendingCommit is one delivery's outcome on its way to the backend, and
// what the attempts so far have made of it. The direct and the batched
// commit hold one per delivery; committer.settle moves it on after each
// attempt.
type pendingCommit struct {
	d   Delivery
	out Outcome
	// from says which organ emitted which of out's events, for the dead
	// letter of an outcome the backend rejects.
	from emitters
	// attempt counts the attempts made.
	attempt int
	// rejected says the backend refused the delivery's outcome for good:
	// out is now the dead letter of the input.
	rejected bool
	// enqueued and deadLettered say how far a backend without Commit got
	// through out: its emitted events enqueued and its dead letters
	// written. A retry goes on from there rather than repeating them.
	enqueued, deadLettered int
}

// verdict is what becomes of a commit after an attempt.
type verdict int

const (
	settled    verdict = iota // committed, or given up for good: the delivery is done with
	retryLater                // failed for now: back off (backendRetry), then try again
	retryNow                  // the outcome was replaced by the input's dead letter: try that at once
)

// committer decides what becomes of a commit after each attempt, for the
// direct and the batched commit alike. It counts what was committed, swaps
// an outcome the backend rejected for good for the input's dead letter,
// releases the delivery when even that is rejected or the run is shutting
// down, and logs what went wrong.
type committer struct {
	log     *slog.Logger
	stats   *counters
	release func(Delivery) // hands an unacknowledged delivery back to the backend
	halt    func(error)    // stops the run with a fatal error
	observe *Observer      // nil: none
}

// attemptInfo is what settle tells the Observer of a successful attempt.
type attemptInfo struct {
	took  time.Duration // 0 unless the Observer asks for it
	batch int
}

// settle accounts for err, the result of the attempt just made at pc, and
// says what next. cl gathers the log lines of a batch round; nil logs them
// at once.
func (c *committer) settle(ctx context.Context, pc *pendingCommit, err error, cl *commitLog, info attemptInfo) verdict {
	pc.attempt++
	if err == nil {
		c.stats.emitted.Add(int64(len(pc.out.Emitted)))
		c.stats.deadLetters.Add(int64(len(pc.out.DeadLetters)))
		c.observe.committed(ctx, pc, info.took, info.batch)
		return settled
	}
	if c.observe != nil && c.observe.CommitFailed != nil {
		c.observe.CommitFailed(ctx, pc.d, err, pc.attempt)
	}
	d := pc.d
	attrs := []slog.Attr{
		slog.String(KeyEventID, d.Event.ID()), slog.String(KeyCorrelationID, d.Event.CorrelationID()), slog.String(KeyEventType, d.Event.Type()),
		slog.Int(KeyAttempt, pc.attempt), slog.String(KeyError, err.Error()),
	}
	switch {
	case errors.Is(err, ErrClosed):
		c.note(ctx, cl, slog.LevelError, "commit abandoned: backend closed; the event stays unacknowledged", attrs)
		return settled
	case errors.Is(err, ErrFatal):
		// Waiting cannot mend it: stop the run rather than retry forever.
		c.note(ctx, cl, slog.LevelError, "commit refused for good; event released and the run stops", attrs)
		c.release(d)
		c.halt(err)
		return settled
	case errors.Is(err, ErrDeliveryLost) && pc.attempt > 1:
		// After a failed attempt, most likely that attempt did commit and
		// only its answer was lost.
		c.note(ctx, cl, slog.LevelInfo, "commit retry found the delivery gone: committed by an earlier attempt whose answer was lost, or reclaimed by another consumer", attrs)
		return settled
	case errors.Is(err, ErrDeliveryLost):
		c.note(ctx, cl, slog.LevelWarn, "commit discarded: the backend no longer holds this delivery", attrs)
		return settled
	case errors.Is(err, ErrPermanent) && pc.rejected:
		// Even the dead letter is refused: leave the event unacknowledged.
		c.note(ctx, cl, slog.LevelError, "commit of the dead letter rejected too; event released", attrs)
		c.release(d)
		return settled
	case errors.Is(err, ErrPermanent):
		// Retrying cannot help: keep the input, as a dead letter, and drop
		// what its organs emitted.
		organ := pc.rejectedOrgan(err)
		if organ != "" {
			attrs = append(attrs, slog.String(KeyOrgan, organ))
		}
		c.note(ctx, cl, slog.LevelError, "commit rejected; input dead-lettered", attrs)
		pc.out = Outcome{DeadLetters: []DeadLetter{{
			Event: d.Event, Organ: organ, Reason: ReasonCommitRejected, Error: err.Error(), Attempts: pc.attempt, Time: time.Now().UTC(),
		}}}
		pc.from = emitters{}
		pc.rejected = true
		pc.enqueued, pc.deadLettered = 0, 0
		return retryNow
	case ctx.Err() != nil:
		c.note(ctx, cl, slog.LevelError, "commit abandoned at shutdown; event released", attrs)
		c.release(d)
		return settled
	}
	level := slog.LevelDebug
	if pc.attempt == 1 {
		level = slog.LevelWarn // once per failing commit, not once per retry
	}
	c.note(ctx, cl, level, "commit failed; retrying", attrs)
	return retryLater
}

// rejectedOrgan returns the organ that emitted the event err says the
// backend refused (a RejectedEventError), or "" when err names none of
// pc's emitted events.
func (pc *pendingCommit) rejectedOrgan(err error) string {
	var rej *RejectedEventError
	if !errors.As(err, &rej) {
		return ""
	}
	for i, e := range pc.out.Emitted {
		if e.ID() == rej.EventID {
			return pc.from.of(i)
		}
	}
	return ""
}

// note logs a line about one commit now, or into cl when it is set.
func (c *committer) note(ctx context.Context, cl *commitLog, level slog.Level, msg string, attrs []slog.Attr) {
	if cl == nil {
		c.log.LogAttrs(ctx, level, msg, attrs...)
		return
	}
	cl.add(level, msg, attrs)
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

func (cl *commitLog) add(level slog.Level, msg string, attrs []slog.Attr) {
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

// directCommitter commits each outcome as soon as its delivery is handled:
// in one step with Commit where the backend has it, else by Enqueue,
// DeadLetter and Ack in that order, so that a crash duplicates and never
// loses.
type directCommitter struct {
	committer
	backend Backend
	atomic  Committer    // nil: Enqueue + DeadLetter + Ack
	dead    DeadLetterer // nil: the log is the record
}

// commit records pc's outcome and acknowledges its delivery, retrying
// transient backend failures until it succeeds or ctx is done.
func (c *directCommitter) commit(ctx context.Context, pc *pendingCommit) {
	for {
		var start time.Time
		if c.observe.timing() {
			start = time.Now()
		}
		err := c.try(ctx, pc)
		info := attemptInfo{batch: 1}
		if !start.IsZero() {
			info.took = time.Since(start)
		}
		switch c.settle(ctx, pc, err, nil, info) {
		case settled:
			return
		case retryLater:
			sleep(ctx, backendRetry.Backoff(pc.attempt))
		}
	}
}

// try makes one attempt at pc. Without Commit it goes on from where the
// last attempt stopped: the steps already done are not repeated.
func (c *directCommitter) try(ctx context.Context, pc *pendingCommit) error {
	if c.atomic != nil {
		return c.atomic.Commit(ctx, pc.d, pc.out)
	}
	for pc.enqueued < len(pc.out.Emitted) {
		if err := c.backend.Enqueue(ctx, pc.out.Emitted[pc.enqueued]); err != nil {
			return err
		}
		pc.enqueued++
	}
	for pc.deadLettered < len(pc.out.DeadLetters) {
		if err := c.deadLetter(ctx, pc.out.DeadLetters[pc.deadLettered]); err != nil {
			return err
		}
		pc.deadLettered++
	}
	return c.backend.Ack(ctx, pc.d)
}

func (c *directCommitter) deadLetter(ctx context.Context, dl DeadLetter) error {
	if c.dead != nil {
		return c.dead.DeadLetter(ctx, dl)
	}
	// Nowhere to keep it: the log is the record, at Error with everything
	// needed to replay the event.
	wire, _ := dl.Event.MarshalJSON()
	c.log.LogAttrs(ctx, slog.LevelError, "dead letter (backend keeps none)",
		slog.String(KeyOrgan, dl.Organ), slog.String(KeyReason, dl.Reason),
		slog.String(KeyError, dl.Error), slog.Int(KeyAttempt, dl.Attempts),
		slog.String(KeyEvent, string(wire)))
	return nil
}
