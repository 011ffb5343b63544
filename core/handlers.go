package core

import (
	"context"
	"sync"
	"sync/atomic"
)

// handlerPool handles the deliveries of one run and commits their outcomes.
// At Concurrency 1 it handles each inline, in the pull loop's goroutine: no
// hand-off, the fast path. Above, long-lived handler goroutines take the
// deliveries from the loop, one slot each: a goroutine per delivery would
// grow a fresh stack for each (a third of the CPU time of a quick chain).
//
// It keeps the count of deliveries in flight, from dispatch until their
// commit is settled, which the pull loop reads to tell when the chain is
// idle.
type handlerPool struct {
	s   *Spine
	ctx context.Context // the handlers' context
	bat *batcher        // nil: commit directly

	inflight atomic.Int64
	slots    chan struct{} // one per delivery held by a handler goroutine
	work     chan Delivery // nil: inline
	wg       sync.WaitGroup
}

// startHandlers starts the pool of a run, with its batcher when the backend
// commits in batches, and its handler goroutines when Concurrency is above 1.
// Stop it to wait for them all.
func startHandlers(s *Spine, ctx context.Context) *handlerPool {
	p := &handlerPool{s: s, ctx: ctx}
	if s.batch != nil {
		p.bat = startBatcher(ctx, s.committer(), s.batch, s.opts.MaxCommitBatch, p.done)
	}
	if n := s.opts.Concurrency; n > 1 {
		p.slots = make(chan struct{}, n)
		p.work = make(chan Delivery)
		for range n {
			p.wg.Go(func() {
				for d := range p.work {
					p.handle(d)
					<-p.slots
				}
			})
		}
	}
	return p
}

// reserve waits for a handler goroutine to be free or about to be, before a
// pull, so that what is pulled need not wait. It reports false when ctx is
// done first.
func (p *handlerPool) reserve(ctx context.Context) bool {
	return p.work == nil || p.waitSlot(ctx)
}

// waitSlot is reserve's slow path, kept out of line so that reserve inlines
// into the pull loop.
//
//go:noinline
func (p *handlerPool) waitSlot(ctx context.Context) bool {
	select {
	case p.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// unreserve gives back a reservation that no delivery took.
func (p *handlerPool) unreserve() {
	if p.work != nil {
		<-p.slots
	}
}

// idle reports whether no delivery is in flight.
func (p *handlerPool) idle() bool { return p.inflight.Load() == 0 }

// dispatch handles d, under a reservation: inline, or on a handler
// goroutine.
func (p *handlerPool) dispatch(d Delivery) {
	p.inflight.Add(1)
	if p.work == nil {
		p.handle(d)
		return
	}
	p.work <- d // a slot is held, so a handler goroutine is free or about to be
}

// handle processes d and commits the outcome: at once, or through the
// batcher when the backend commits in batches.
func (p *handlerPool) handle(d Delivery) {
	pc := pendingCommit{d: d}
	switch {
	case !p.s.process(p.ctx, &pc):
		p.done()
	case p.bat != nil:
		p.bat.add(&pc) // the batcher calls done
	default:
		p.s.commits.commit(p.ctx, &pc)
		p.done()
	}
}

// done marks a delivery as done with, committed or not.
func (p *handlerPool) done() { p.inflight.Add(-1) }

// stop lets the handler goroutines finish what they hold, then the batcher
// commit what they finished, and waits for them all.
func (p *handlerPool) stop() {
	if p.work != nil {
		close(p.work)
	}
	p.wg.Wait()
	if p.bat != nil {
		p.bat.close()
	}
}
