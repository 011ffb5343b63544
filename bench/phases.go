package bench

import (
	"context"
	"sync"
	"time"

	"github.com/necrostack/necrostack/core"
)

// Phases is where a NecroStack event's time went, stage by stage, measured
// with the Spine's Observer (Config.Phases): for every event, in
// microseconds,
//   - Read: from the commit that emitted it being settled (its XADD ran in
//     that commit, so it was readable by then) to its Pull; a seed has none.
//     It can be below zero when the read's reply overtakes the commit's.
//   - Dispatch: from its Pull to its organ starting (a free handler).
//   - Organ: the organ's call, -handler-delay included.
//   - Commit: from the organ's return to its commit being settled: the wait
//     for the commit under way, then its own.
//
// and for every commit, CommitCall (the duration of the call that carried
// it) and CommitBatch (how many commits that call carried), so that a call
// counts once per commit in it. The four phases add up to a stage's latency; four
// stages, and the seed's enqueue, make a ritual's. Measuring takes a lock and
// a map entry per phase of each event: a run with it is slower than without,
// and its figures explain a run rather than replace one.
type Phases struct {
	Read        Quantiles `json:"read_us"`
	Dispatch    Quantiles `json:"dispatch_us"`
	Organ       Quantiles `json:"organ_us"`
	Commit      Quantiles `json:"commit_us"`
	CommitCall  Quantiles `json:"commit_call_us"`
	CommitBatch Quantiles `json:"commit_batch"`
}

// Quantiles summarise one phase: how many were measured, their mean, median
// and 99th percentile.
type Quantiles struct {
	N    int64   `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
}

// phaseTracer measures Phases. The séance chain has one organ per event
// type, so an event's start and end are its organ's.
type phaseTracer struct {
	now      func() time.Time // time.Now; a test's clock
	mu       sync.Mutex
	emitted  map[string]time.Time // event id → when the commit that emitted it was settled
	early    map[string]time.Time // event id → its Pull, which came before that commit was settled
	pulled   map[string]time.Time
	started  map[string]time.Time
	finished map[string]time.Time

	read, dispatch, organ, commit, call, batch phaseStat
}

func newPhaseTracer() *phaseTracer {
	return &phaseTracer{
		now:     time.Now,
		emitted: map[string]time.Time{}, early: map[string]time.Time{}, pulled: map[string]time.Time{},
		started: map[string]time.Time{}, finished: map[string]time.Time{},
	}
}

// phaseStat is a histogram of one phase, with what a mean needs. Values
// below zero (Read's) count as zero in the histogram, and as themselves in
// the mean.
type phaseStat struct {
	h   histogram
	n   int64
	sum float64
}

func (s *phaseStat) add(v int64) {
	s.h.record(v)
	s.n++
	s.sum += float64(v)
}

// quantiles returns the summary, scaled by div (1000: nanoseconds to
// microseconds).
func (s *phaseStat) quantiles(div float64) Quantiles {
	if s.n == 0 {
		return Quantiles{}
	}
	return Quantiles{N: s.n, Mean: round(s.sum/float64(s.n)/div, 1),
		P50: round(s.h.quantile(0.50)/div, 1), P99: round(s.h.quantile(0.99)/div, 1)}
}

// since records in s the time from id's start in starts to now and forgets
// the start; false when id has none.
func (s *phaseStat) since(starts map[string]time.Time, id string, now time.Time) bool {
	at, ok := starts[id]
	if ok {
		s.add(int64(now.Sub(at)))
		delete(starts, id)
	}
	return ok
}

func (t *phaseTracer) observer() *core.Observer {
	return &core.Observer{
		Pulled: func(_ context.Context, d core.Delivery) {
			now, id := t.now(), d.Event.ID()
			t.mu.Lock()
			if !t.read.since(t.emitted, id, now) && d.Event.Type() != typeSummon { // a seed was emitted by no commit
				t.early[id] = now
			}
			t.pulled[id] = now
			t.mu.Unlock()
		},
		OrganStarted: func(_ context.Context, _ string, e core.Event, _ int) {
			now, id := t.now(), e.ID()
			t.mu.Lock()
			t.dispatch.since(t.pulled, id, now)
			if _, ok := t.started[id]; !ok { // a retry's start is not the event's
				t.started[id] = now
			}
			t.mu.Unlock()
		},
		OrganFinished: func(_ context.Context, _ string, e core.Event, _ int, _ []core.Event, _ time.Duration, _ error) {
			now, id := t.now(), e.ID()
			t.mu.Lock()
			t.organ.since(t.started, id, now)
			t.finished[id] = now
			t.mu.Unlock()
		},
		Committed: func(_ context.Context, d core.Delivery, out core.Outcome, took time.Duration, batch int) {
			now := t.now()
			t.mu.Lock()
			t.commit.since(t.finished, d.Event.ID(), now)
			t.call.add(int64(took))
			t.batch.add(int64(batch))
			for _, e := range out.Emitted {
				if at, ok := t.early[e.ID()]; ok {
					t.read.add(int64(at.Sub(now)))
					delete(t.early, e.ID())
					continue
				}
				t.emitted[e.ID()] = now
			}
			t.mu.Unlock()
		},
	}
}

// phases returns what was measured. A commit call's duration and batch are
// counted once per commit it carried, as the Observer reports them.
func (t *phaseTracer) phases() *Phases {
	t.mu.Lock()
	defer t.mu.Unlock()
	return &Phases{
		Read: t.read.quantiles(1e3), Dispatch: t.dispatch.quantiles(1e3), Organ: t.organ.quantiles(1e3),
		Commit: t.commit.quantiles(1e3), CommitCall: t.call.quantiles(1e3), CommitBatch: t.batch.quantiles(1),
	}
}
