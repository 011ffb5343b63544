package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	backend Backend
	commits directCommitter
	batch   BatchCommitter // nil: every outcome goes through commits
	release Releaser
	organs  []organEntry
	routes  map[string][]int
	opts    Config
	log     *slog.Logger
	running atomic.Bool
	stats   counters
	halts   halter
}

// halter stops a run on a fatal backend error (see ErrFatal): it keeps the
// first such error and stops the run's pull loop.
type halter struct {
	mu   sync.Mutex
	err  error
	stop context.CancelFunc // the current run's pull loop
}

// arm readies h for a run whose pull loop stop stops.
func (h *halter) arm(stop context.CancelFunc) {
	h.mu.Lock()
	h.err, h.stop = nil, stop
	h.mu.Unlock()
}

func (h *halter) halt(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		h.err = err
		if h.stop != nil {
			h.stop()
		}
	}
}

// result returns the error that halted the run, if any.
func (h *halter) result() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// counters are the Spine's Stats, counted by the parts that do the work.
type counters struct {
	pulled, handled, failed, emitted, deadLetters atomic.Int64
}

// NewSpine builds a Spine over backend for organs, which receive each event
// in the order given. It rejects a nil backend, an empty organ list, a nil
// organ, an OrganFunc with a nil function, an organ with no or invalid event
// types, and duplicate organ names, with an error that names the organ.
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
	s.batch, _ = backend.(BatchCommitter)
	s.release, _ = backend.(Releaser)
	s.commits = directCommitter{committer: s.committer(), backend: backend}
	s.commits.atomic, _ = backend.(Committer)
	s.commits.dead, _ = backend.(DeadLetterer)
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
		if f, ok := org.(*funcOrgan); ok && f.fn == nil {
			// It would fail every event it is given: say so now.
			return nil, fmt.Errorf("spine: organ %q has a nil function", name)
		}
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
		handler := org
		for i := len(o.Middleware) - 1; i >= 0; i-- {
			if handler = o.Middleware[i](handler); handler == nil {
				return nil, fmt.Errorf("spine: middleware #%d returned a nil organ for %q", i, name)
			}
		}
		s.organs = append(s.organs, organEntry{organ: handler, name: name})
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
		Pulled:       s.stats.pulled.Load(),
		Handled:      s.stats.handled.Load(),
		Failed:       s.stats.failed.Load(),
		Emitted:      s.stats.emitted.Load(),
		DeadLettered: s.stats.deadLetters.Load(),
	}
}

// committer is what settling a commit needs of the Spine.
func (s *Spine) committer() committer {
	return committer{log: s.log, stats: &s.stats, release: s.releaseDelivery, halt: s.halts.halt, observe: s.opts.Observer}
}

// releaseTimeout bounds a Release. It runs on a context of its own, as the
// run's may be cancelled by then (the event pulled past MaxSteps, or one
// interrupted at shutdown).
const releaseTimeout = 5 * time.Second

// releaseDelivery hands d back to a backend that can take it (Releaser),
// for another pull to have it at once.
func (s *Spine) releaseDelivery(d Delivery) {
	if s.release == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := s.release.Release(ctx, d); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "release failed",
			slog.String(KeyEventID, d.Event.ID()), slog.String(KeyCorrelationID, d.Event.CorrelationID()), slog.String(KeyError, err.Error()))
		return
	}
	if o := s.opts.Observer; o != nil && o.Released != nil {
		o.Released(ctx, d)
	}
}
