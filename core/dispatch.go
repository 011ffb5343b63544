package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// process handles pc's delivery with every organ that listens to it and
// sets pc's outcome to commit, and which organ emitted which of its events.
// If ctx is cancelled before that (a forced shutdown), it releases the
// delivery instead and returns false.
func (s *Spine) process(ctx context.Context, pc *pendingCommit) bool {
	d := &pc.d
	e := &d.Event
	ctx = withDelivery(ctx, d.Attempt)
	out, from := &pc.out, &pc.from
	idxs := s.routes[e.Type()]
	if len(idxs) == 0 {
		out.DeadLetters = append(out.DeadLetters, DeadLetter{
			Event: *e, Reason: ReasonUnroutable, Time: time.Now().UTC(),
			Error: "no organ listens to " + e.Type(),
		})
		s.log.LogAttrs(ctx, slog.LevelWarn, "unroutable event dead-lettered",
			slog.String(KeyEventID, e.ID()), slog.String(KeyCorrelationID, e.CorrelationID()), slog.String(KeyEventType, e.Type()))
	}
	for _, i := range idxs {
		org := s.organs[i]
		emitted, attempts, err := s.invoke(ctx, org, *e)
		if err != nil {
			if ctx.Err() != nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "handler interrupted by shutdown; event released",
					slog.String(KeyEventID, e.ID()), slog.String(KeyCorrelationID, e.CorrelationID()), slog.String(KeyEventType, e.Type()),
					slog.String(KeyOrgan, org.name), slog.String(KeyError, err.Error()))
				s.releaseDelivery(*d)
				pc.out, pc.from = Outcome{}, emitters{}
				return false
			}
			out.DeadLetters = append(out.DeadLetters, DeadLetter{
				Event: *e, Organ: org.name, Reason: ReasonHandlerFailed, Error: err.Error(),
				Attempts: attempts, Time: time.Now().UTC(),
			})
			s.log.LogAttrs(ctx, slog.LevelError, "handler failed; event dead-lettered for organ",
				slog.String(KeyEventID, e.ID()), slog.String(KeyCorrelationID, e.CorrelationID()), slog.String(KeyEventType, e.Type()),
				slog.String(KeyOrgan, org.name), slog.Int(KeyAttempt, attempts), slog.String(KeyError, err.Error()))
			continue
		}
		if len(emitted) == 0 {
			continue
		}
		for i := range emitted {
			emitted[i].setParent(e) // the slice is the Spine's
		}
		from.add(org.name, len(out.Emitted), len(out.Emitted)+len(emitted))
		if out.Emitted == nil {
			out.Emitted = emitted // the common case, one organ: no copy
		} else {
			out.Emitted = append(out.Emitted, emitted...)
		}
	}
	return true
}

// emitters says which organ emitted which events of an outcome, so that a
// commit the backend rejects for one of them (RejectedEventError) can name
// the organ. It costs nothing when one organ emitted them all, the common
// case: only when several did does it keep a slice.
type emitters struct {
	only  string        // the organ that emitted every event, when spans is nil
	spans []emitterSpan // several organs emitted: in order, each up to its end
}

// emitterSpan is one organ's events in Outcome.Emitted: those before end
// and after the previous span's.
type emitterSpan struct {
	organ string
	end   int
}

// add records that organ emitted the events from start to end.
func (em *emitters) add(organ string, start, end int) {
	switch {
	case em.spans != nil:
		em.spans = append(em.spans, emitterSpan{organ, end})
	case em.only == "":
		em.only = organ
	default:
		em.spans = []emitterSpan{{em.only, start}, {organ, end}}
		em.only = ""
	}
}

// of returns the organ that emitted the i-th event, "" when unknown.
func (em emitters) of(i int) string {
	if em.spans == nil {
		return em.only
	}
	for _, sp := range em.spans {
		if i < sp.end {
			return sp.organ
		}
	}
	return ""
}

// invoke calls org until it succeeds, fails permanently, runs out of
// attempts or ctx is done.
func (s *Spine) invoke(ctx context.Context, org organEntry, e Event) ([]Event, int, error) {
	obs := s.opts.Observer
	debug := s.log.Enabled(ctx, slog.LevelDebug)
	timed := debug || obs != nil && obs.OrganFinished != nil
	for attempt := 1; ; attempt++ {
		var start time.Time
		if timed {
			start = time.Now()
		}
		if obs != nil && obs.OrganStarted != nil {
			obs.OrganStarted(ctx, org.name, e, attempt)
		}
		emitted, err := s.call(ctx, org, e)
		if err == nil {
			for i, ev := range emitted {
				if verr := ev.Validate(); verr != nil {
					err = Permanent(fmt.Errorf("organ emitted an invalid event at index %d: %w", i, verr))
					break
				}
			}
		}
		if obs != nil && obs.OrganFinished != nil {
			var out []Event
			if err == nil {
				out = emitted
			}
			obs.OrganFinished(ctx, org.name, e, attempt, out, time.Since(start), err)
		}
		if err == nil {
			s.stats.handled.Add(1)
			if debug {
				s.log.LogAttrs(ctx, slog.LevelDebug, "handled",
					slog.String(KeyEventID, e.ID()), slog.String(KeyCorrelationID, e.CorrelationID()), slog.String(KeyEventType, e.Type()),
					slog.String(KeyOrgan, org.name), slog.Int(KeyEmitted, len(emitted)),
					millis(KeyDuration, time.Since(start)), slog.Int(KeyAttempt, attempt))
			}
			return emitted, attempt, nil
		}
		s.stats.failed.Add(1)
		if errors.Is(err, ErrPermanent) || attempt >= s.opts.Retry.MaxAttempts || ctx.Err() != nil {
			return nil, attempt, err
		}
		wait := s.opts.Retry.Backoff(attempt)
		if obs != nil && obs.Retried != nil {
			obs.Retried(ctx, org.name, e, attempt, wait, err)
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "handler failed; retrying",
			slog.String(KeyEventID, e.ID()), slog.String(KeyCorrelationID, e.CorrelationID()), slog.String(KeyEventType, e.Type()),
			slog.String(KeyOrgan, org.name), slog.Int(KeyAttempt, attempt),
			slog.String(KeyError, err.Error()), millis(KeyBackoff, wait))
		if !sleep(ctx, wait) {
			return nil, attempt, err
		}
	}
}

// call calls org once, within HandlerTimeout when it is set.
func (s *Spine) call(ctx context.Context, org organEntry, e Event) ([]Event, error) {
	limit := s.opts.HandlerTimeout
	if limit <= 0 {
		return callOrgan(ctx, org.organ, e)
	}
	callCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	emitted, err := callOrgan(callCtx, org.organ, e)
	if err != nil && ctx.Err() == nil && errors.Is(callCtx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("organ %s ran longer than HandlerTimeout (%v): %w", org.name, limit, err)
	}
	return emitted, err
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
