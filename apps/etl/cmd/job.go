package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/necrostack/necrostack/apps/etl/organs"
	"github.com/necrostack/necrostack/core"
)

// maxAttempts is the Spine's Retry.MaxAttempts, set explicitly because the
// job watch relies on it to know when a failure becomes a dead letter.
const maxAttempts = core.DefaultMaxAttempts

// observer is told the result of every call of a wrapped organ.
type observer func(organ string, e core.Event, err error)

// watched wraps an organ of the chain with what the command adds around
// it: a bound on the size of the events it emits, and an observer. It keeps
// the organ's name, so logs and dead letters still say "Cleaner".
type watched struct {
	inner         core.Organ
	name          string
	maxEventBytes int // 0: no bound
	observe       observer
}

func (o *watched) Name() string      { return o.name }
func (o *watched) Listens() []string { return o.inner.Listens() }

func (o *watched) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	out, err := o.inner.Handle(ctx, e)
	if err == nil && o.maxEventBytes > 0 {
		if err = checkSizes(out, o.maxEventBytes); err != nil {
			out = nil
		}
	}
	if o.observe != nil {
		o.observe(o.name, e, err)
	}
	return out, err
}

// wrap wraps each organ; see watched.
func wrap(chain []core.Organ, maxEventBytes int, observe observer) []core.Organ {
	out := make([]core.Organ, len(chain))
	for i, o := range chain {
		out[i] = &watched{inner: o, name: core.OrganName(o), maxEventBytes: maxEventBytes, observe: observe}
	}
	return out
}

// checkSizes fails, permanently, when an event is larger than the backend
// accepts. The Redis backend refuses such an event at commit, and the Spine
// retries a failed commit until it succeeds: the worker would be stuck on
// that event. A dead letter that says why is better.
func checkSizes(events []core.Event, limit int) error {
	for _, e := range events {
		wire, err := e.MarshalJSON()
		if err != nil {
			return core.Permanent(err)
		}
		if len(wire) > limit {
			return core.Permanent(fmt.Errorf("%s would be %s, over the %s limit of an event on Redis: split the input",
				e.Type(), byteSize(len(wire)), byteSize(limit)))
		}
	}
	return nil
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// jobWatch follows one job through the chain, in the organs' calls: it
// learns when the job's report is written, or when an organ failed on one of
// its events for the last time (the Spine then dead-letters the event), and
// calls end, once, at the first of these. Events of other jobs are ignored.
type jobWatch struct {
	job string
	end func()

	mu       sync.Mutex
	failures map[string]int // failed calls per event id and organ
	reported bool
	failed   string // "organ: error" of the first final failure
	ended    bool
}

func newJobWatch(job string, end func()) *jobWatch {
	return &jobWatch{job: job, end: end, failures: make(map[string]int)}
}

func (w *jobWatch) observe(organ string, e core.Event, err error) {
	if organs.JobOf(e) != w.job {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil && e.Type() == organs.DataTransformed.Type():
		w.reported = true
	case err != nil:
		key := e.ID() + "/" + organ
		w.failures[key]++
		// The Spine dead-letters at once on a permanent error, else after
		// maxAttempts calls.
		if !errors.Is(err, core.ErrPermanent) && w.failures[key] < maxAttempts {
			return
		}
		if w.failed == "" {
			w.failed = organ + ": " + err.Error()
		}
	default:
		return
	}
	if !w.ended {
		w.ended = true
		w.end()
	}
}

// result says whether the report was written, and else the first final
// failure seen ("" if none).
func (w *jobWatch) result() (reported bool, failed string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reported, w.failed
}
