package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/necrostack/necrostack/core"
)

// A term is this worker's ownership of one partition under one token: it
// starts when the lease is acquired, runs the partition's reader, and ends
// when the partition is handed over, lost to another owner (fenced) or
// given up, or at Close.

func (o *Ordered) setMembers(m []string) {
	o.mu.Lock()
	o.members = m
	o.mu.Unlock()
}

// winner returns the member that should own partition i ("" before the
// first heartbeat).
func (o *Ordered) winner(i int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return RendezvousOwner(o.members, i)
}

func (o *Ordered) term(i int) *term {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.terms[i]
}

// failWith makes Pull return err, a fatal error, from now on: the Spine
// stops rather than wait for what waiting cannot mend (a refused ACL).
func (o *Ordered) failWith(err error) {
	o.fatal.CompareAndSwap(nil, &err)
	o.lanes.broadcastNow()
}

// start begins a term of partition i under token and starts its reader.
func (o *Ordered) start(i int, token int64) {
	ctx, cancel := context.WithCancel(o.ctx)
	t := &term{token: token, fence: strconv.FormatInt(token, 10), renewed: time.Now(), cancel: cancel, done: make(chan struct{})}
	o.lanes.begin(i, token)
	o.mu.Lock()
	o.terms[i] = t
	o.mu.Unlock()
	o.loops.Add(1)
	go o.readPartition(ctx, i, t)
}

// lose ends t at once, if it is still partition i's term: the partition is
// another's, or may be.
func (o *Ordered) lose(i int, t *term) {
	o.mu.Lock()
	current := o.terms[i] == t
	if current {
		o.terms[i] = nil
	}
	o.mu.Unlock()
	if current {
		t.cancel()
		o.lanes.end(i)
	}
}

// handOver gives partition i up cooperatively, in the background: its
// reader stops, what it had not handed out stays pending for the next
// owner, what is in flight settles (for at most LeaseTTL), and the lease
// is released.
func (o *Ordered) handOver(i int, t *term) {
	o.mu.Lock()
	t.leaving = true
	o.mu.Unlock()
	o.loops.Add(1)
	go func() {
		defer o.loops.Done()
		t.cancel()
		<-t.done
		o.lanes.forget(i)
		ctx, cancel := context.WithTimeout(o.ctx, o.opts.LeaseTTL)
		defer cancel()
		if err := o.lanes.drained(ctx, i); err != nil {
			o.log.LogAttrs(ctx, slog.LevelWarn, "redis: ordered stream: handing a partition over before what it handles settled; those commits will write nothing",
				slog.Int(keyPartition, i), slog.Int(keyInFlight, o.lanes.inFlight(i)))
		}
		o.mu.Lock()
		if o.terms[i] == t {
			o.terms[i] = nil
		}
		o.mu.Unlock()
		o.lanes.end(i)
		rctx, rcancel := bounded(context.WithoutCancel(ctx), o.cfg.Timeout)
		defer rcancel()
		if _, err := lease(rctx, o.parts[i], "release", o.me, o.opts.LeaseTTL, t.token); err != nil {
			o.log.LogAttrs(ctx, slog.LevelWarn, "redis: ordered stream: lease not released; the next owner waits for it to run out",
				slog.Int(keyPartition, i), slog.String(core.KeyError, err.Error()))
			return
		}
		o.log.LogAttrs(ctx, slog.LevelInfo, "redis: ordered stream: partition handed over", slog.Int(keyPartition, i))
	}()
}

// readPartition reads partition i for term t until the term ends: first
// what is pending in the group, then new entries, into the lanes, holding
// at most a few reads' worth at a time.
func (o *Ordered) readPartition(ctx context.Context, i int, t *term) {
	defer o.loops.Done()
	defer close(t.done)
	b := o.parts[i]
	r := newFencedReader(b, t.token)
	limit := max(4*b.cfg.Batch, 64)
	failures := 0
	for ctx.Err() == nil {
		if o.lanes.room(ctx, i, limit) != nil {
			return
		}
		entries, idleAfter, err := r.next(ctx)
		if err == nil && idleAfter != "" {
			err = r.wait(ctx, idleAfter)
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errFenced):
			o.log.LogAttrs(ctx, slog.LevelWarn, "redis: ordered stream: partition taken over; what this worker still handles of it will commit nothing",
				slog.Int(keyPartition, i), slog.Int64(keyToken, t.token))
			o.lose(i, t)
			return
		case errors.Is(err, core.ErrFatal):
			o.failWith(fmt.Errorf("partition %d: %w", i, err))
			return
		case err != nil:
			failures++
			level := slog.LevelDebug
			if failures == 1 {
				level = slog.LevelWarn
			}
			b.log.LogAttrs(ctx, level, "redis: partition unreachable; its reader backs off", slog.Int(keyPartition, i),
				slog.String(keyStream, b.cfg.Stream), slog.Int(core.KeyAttempt, failures), slog.String(core.KeyError, err.Error()))
			select {
			case <-time.After(partitionRetry.Backoff(failures)):
			case <-ctx.Done():
				return
			}
			continue
		case failures > 0:
			b.log.LogAttrs(ctx, slog.LevelInfo, "redis: partition reachable again", slog.Int(keyPartition, i),
				slog.String(keyStream, b.cfg.Stream), slog.Int(core.KeyFailures, failures))
			failures = 0
		}
		if err := o.accept(ctx, i, t, r, entries); errors.Is(err, errFenced) {
			o.lose(i, t)
			return
		} else if err != nil {
			b.log.LogAttrs(ctx, slog.LevelWarn, "redis: ordered stream: claimed entries not counted; they are handed out anyway",
				slog.Int(keyPartition, i), slog.String(core.KeyError, err.Error()))
		}
	}
}

// accept queues entries read or claimed in partition i under t, and
// dead-letters (under t's token) those that are not valid events. A claimed
// entry that is the first of its key (see fencedReader.firstOfKey) counts
// one more delivery, and is dead-lettered instead when it was delivered
// MaxDeliveries times already: it may be what killed its former owners.
func (o *Ordered) accept(ctx context.Context, i int, t *term, r *fencedReader, entries []claimedEntry) error {
	b := o.parts[i]
	type accepted struct {
		d    core.Delivery
		head bool
	}
	var ok []accepted
	var bump []any
	for _, c := range entries {
		e, bad := decodeEntry(c.Values, b.cfg.MaxEventBytes)
		if bad != nil {
			b.deadLetterEntry(ctx, c.ID, bad.raw, "", bad.reason, bad.err, max(c.delivered, 1), t.fence)
			continue
		}
		head := c.delivered > 0 && r.firstOfKey(e.Key())
		if head && c.delivered >= b.cfg.MaxDeliveries {
			raw, _ := rawEvent(c.Values)
			b.deadLetterEntry(ctx, c.ID, cut(raw, b.cfg.MaxEventBytes), "", ReasonMaxDeliveries,
				fmt.Sprintf("delivered %d times without being acknowledged", c.delivered), c.delivered, t.fence)
			continue
		}
		if head {
			bump = append(bump, c.ID)
		}
		ok = append(ok, accepted{core.Delivery{Event: e, Receipt: c.ID, Attempt: max(c.delivered, 1)}, head})
	}
	var err error
	if len(bump) > 0 {
		if err = r.bump(ctx, bump); errors.Is(err, errFenced) {
			return err
		}
		b.log.LogAttrs(ctx, slog.LevelInfo, "redis: ordered stream: claimed entries pending from the partition's earlier owners",
			slog.Int(keyPartition, i), slog.Int(keyEntries, len(entries)), slog.Int(keyHeads, len(bump)))
	}
	for _, a := range ok {
		if a.head {
			a.d.Attempt++
		}
		if !o.lanes.add(i, t.token, a.d) {
			break
		}
	}
	return err
}
