package organs

import (
	"context"
	"errors"
	"sync"

	"github.com/necrostack/necrostack/core"
)

// Observer is told the result of every call of an organ wrapped by
// Observe: the organ's name, the event it was called with, and the error it
// returned (nil on success). It may be called concurrently.
type Observer func(ctx context.Context, organ string, e core.Event, err error)

// Observe returns chain with each organ reporting every call to observe,
// once the call has returned. The organs keep their names.
func Observe(chain []core.Organ, observe Observer) []core.Organ {
	out := make([]core.Organ, len(chain))
	for i, o := range chain {
		name := core.OrganName(o)
		out[i] = core.OrganFunc(name, o.Listens(), func(ctx context.Context, e core.Event) ([]core.Event, error) {
			emitted, err := o.Handle(ctx, e)
			observe(ctx, name, e, err)
			return emitted, err
		})
	}
	return out
}

// JobWatch follows one job through the chain, from the calls of its
// organs (its Observe is an Observer): it learns when the job's report is
// written, or when an organ failed on one of the job's events for the last
// time (the Spine then dead-letters the event), and calls end, once, at the
// first of these. Events of other jobs are ignored. It is safe for
// concurrent use.
type JobWatch struct {
	job         string
	maxAttempts int
	end         func()

	mu       sync.Mutex
	failures map[string]int // failed calls per event id and organ
	reported bool
	failed   string // "organ: error" of the first final failure
	ended    bool
}

// NewJobWatch returns a watch of the job whose ETL_START has the id job
// (see JobOf). maxAttempts is the Spine's Retry.MaxAttempts: a call that
// fails for the maxAttempts-th time on an event, or fails permanently, is
// the last.
func NewJobWatch(job string, maxAttempts int, end func()) *JobWatch {
	return &JobWatch{job: job, maxAttempts: maxAttempts, end: end, failures: make(map[string]int)}
}

// Observe records the result of one call of organ on e.
func (w *JobWatch) Observe(_ context.Context, organ string, e core.Event, err error) {
	if err == nil && e.Type() != DataTransformed.Type() {
		return // neither the report nor a failure: no payload to decode
	}
	if JobOf(e) != w.job {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil && e.Type() == DataTransformed.Type():
		w.reported = true
	case err != nil:
		key := e.ID() + "/" + organ
		w.failures[key]++
		if !errors.Is(err, core.ErrPermanent) && w.failures[key] < w.maxAttempts {
			return // to be retried
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

// Result says whether the job's report was written, and else the first
// final failure seen ("" if none).
func (w *JobWatch) Result() (reported bool, failed string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reported, w.failed
}
