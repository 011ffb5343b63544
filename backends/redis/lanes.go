package redis

import (
	"context"
	"sync"

	"github.com/necrostack/necrostack/core"
)

// lanes hands out the deliveries of an ordered stream. The rules it keeps:
//   - The events of one key are handled one at a time, in the order their
//     partition gave them: a key's next delivery is handed out only once
//     the one before is settled (committed, or lost to another owner). A
//     delivery that waits, retries or is released holds back its own key
//     only; keyless events are handed out as they come.
//   - A partition's deliveries belong to a term of its ownership (its
//     token). forget drops a partition's deliveries not yet handed out, and
//     end ends the term: a delivery of an old term that settles later
//     touches nothing of the new one's.
//   - held counts, per partition, what is buffered, waiting or in flight,
//     so that a partition's reader stops reading at a bound (room) and a
//     handover waits until nothing of the partition is in flight
//     (drained).
type lanes struct {
	mu      sync.Mutex
	ready   []laneItem // handed out in order, released ones first
	keys    map[laneKey]*lane
	held    []int
	terms   []int64       // the current term of each partition (0: not owned)
	changed chan struct{} // closed and replaced when anything changes
	closed  bool
}

type laneKey struct {
	part int
	key  string
}

// lane is a key with a delivery ready or in flight: the deliveries waiting
// behind it, and its term.
type lane struct {
	term    int64
	waiting []core.Delivery
}

type laneItem struct {
	part int
	term int64
	d    core.Delivery
}

func newLanes(partitions int) *lanes {
	return &lanes{keys: map[laneKey]*lane{}, held: make([]int, partitions), terms: make([]int64, partitions), changed: make(chan struct{})}
}

// broadcast wakes every waiter. The caller holds mu.
func (l *lanes) broadcast() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// begin starts term of partition part: its deliveries are accepted.
func (l *lanes) begin(part int, term int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.terms[part] = term
}

// add queues d, read in partition part under term, behind the deliveries
// of its key. It reports false when the term is over.
func (l *lanes) add(part int, term int64, d core.Delivery) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.terms[part] != term {
		return false
	}
	l.held[part]++
	if k := d.Event.Key(); k != "" {
		lk := laneKey{part, k}
		if ln := l.keys[lk]; ln != nil {
			ln.waiting = append(ln.waiting, d)
			return true
		}
		l.keys[lk] = &lane{term: term}
	}
	l.ready = append(l.ready, laneItem{part, term, d})
	l.broadcast()
	return true
}

// take hands out the next ready delivery.
func (l *lanes) take() (laneItem, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ready) == 0 {
		return laneItem{}, false
	}
	it := l.ready[0]
	l.ready[0] = laneItem{}
	l.ready = l.ready[1:]
	return it, true
}

// putBack hands it out again before anything else, if its term is not
// over; it reports whether it did.
func (l *lanes) putBack(it laneItem) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.terms[it.part] != it.term {
		return false
	}
	l.ready = append([]laneItem{it}, l.ready...)
	l.broadcast()
	return true
}

// done settles a delivery of key handed out from part under term: its
// key's next delivery, if any, is ready.
func (l *lanes) done(part int, term int64, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.terms[part] != term {
		return // ended: held was settled then
	}
	l.held[part]--
	if key != "" {
		lk := laneKey{part, key}
		if ln := l.keys[lk]; ln != nil && ln.term == term {
			if len(ln.waiting) == 0 {
				delete(l.keys, lk)
			} else {
				l.ready = append(l.ready, laneItem{part, term, ln.waiting[0]})
				ln.waiting[0] = core.Delivery{}
				ln.waiting = ln.waiting[1:]
			}
		}
	}
	l.broadcast()
}

// forget drops what part has not handed out: it stays pending in the
// group, for the next owner to claim. What is in flight still settles
// under the term (see drained).
func (l *lanes) forget(part int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.ready[:0]
	for _, it := range l.ready {
		if it.part == part {
			l.held[part]--
			continue
		}
		kept = append(kept, it)
	}
	clear(l.ready[len(kept):])
	l.ready = kept
	for lk, ln := range l.keys {
		if lk.part == part {
			l.held[part] -= len(ln.waiting)
			delete(l.keys, lk)
		}
	}
	l.broadcast()
}

// end ends part's term, forgetting what it had not handed out; what was in
// flight settles as stale.
func (l *lanes) end(part int) {
	l.forget(part)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.held[part], l.terms[part] = 0, 0
}

// drained waits until nothing of part is held: after forget, until what
// was in flight has settled.
func (l *lanes) drained(ctx context.Context, part int) error {
	return l.waitFor(ctx, func() bool { return l.held[part] == 0 })
}

// wait returns a channel closed at the next change, and whether cond holds
// now (then the channel is nil). cond runs under the lock.
func (l *lanes) wait(cond func() bool) (<-chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || cond() {
		return nil, true
	}
	return l.changed, false
}

// waitFor waits until cond holds (under the lock), the lanes close or ctx
// ends, and returns ctx's error in the last case.
func (l *lanes) waitFor(ctx context.Context, cond func() bool) error {
	for {
		ch, ok := l.wait(cond)
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// room waits until part holds fewer than limit deliveries.
func (l *lanes) room(ctx context.Context, part, limit int) error {
	return l.waitFor(ctx, func() bool { return l.held[part] < limit })
}

// close wakes every waiter for good.
func (l *lanes) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.broadcast()
}

// inFlight returns what part holds: after forget, what is in flight.
func (l *lanes) inFlight(part int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[part]
}

// broadcastNow wakes every waiter, to look again at what is not the lanes'
// own state (a fatal error).
func (l *lanes) broadcastNow() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.broadcast()
}
