package redis

// The read path: Pull and what it calls to fill the buffer. The reader
// (reader.go) keeps the buffer and the adaptive count, the ownership
// (ownership.go) the entries held; this file only orders them.

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// Pull returns the next event. In ModeGroup it first hands out what the last
// read fetched, takes back its own lost entries, now and then reclaims
// entries stuck with dead consumers, and otherwise reads new entries with
// XREADGROUP, blocking at most Config.Block at a time until timeout. Entries
// that are not valid events are dead-lettered and acknowledged on the way,
// never returned.
func (b *Backend) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	return b.pull(ctx, timeout, true)
}

// pull is Pull. With self false, for a partition whose reads a Partitioned
// makes for all its partitions at once (merged.go), it never reads new
// entries nor reads ahead: it hands out what is buffered, or what a due
// chore brings in, and otherwise returns none at once.
func (b *Backend) pull(ctx context.Context, timeout time.Duration, self bool) (core.Delivery, bool, error) {
	var deadline time.Time // read only once nothing is buffered: most Pulls find something
	group := b.cfg.Mode == ModeGroup
	if group {
		b.chores.start(b)
	}
	if !b.checked.Load() {
		if err := b.preflight(ctx); err != nil {
			return core.Delivery{}, false, b.readError(ctx, err)
		}
	}
	for {
		if b.isClosed() {
			return core.Delivery{}, false, core.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return core.Delivery{}, false, err
		}
		var mayAhead func() bool
		if group && self {
			mayAhead = b.own.noChoreDue
		}
		if d, ok, ahead := b.reader.pop(mayAhead); ok {
			if ahead {
				b.readAhead()
			}
			return d, true, nil
		}
		if self && deadline.IsZero() {
			deadline = time.Now().Add(timeout)
		}
		if group {
			underWay, err := b.reader.aheadState()
			if err != nil {
				return core.Delivery{}, false, b.readError(ctx, err)
			}
			if underWay != nil {
				select {
				case <-underWay:
					continue
				case <-ctx.Done():
					return core.Delivery{}, false, ctx.Err()
				}
			}
		}
		if group && b.own.checkDue() {
			if err := b.checkOwn(ctx); err != nil {
				return core.Delivery{}, false, b.readError(ctx, err)
			}
		}
		if group && b.own.mustRecover() {
			if err := b.takeBackOwn(ctx); err != nil {
				return core.Delivery{}, false, b.readError(ctx, err)
			}
			if d, ok, _ := b.reader.pop(nil); ok {
				return d, true, nil
			}
		}
		if group && b.own.claimDue() {
			if err := b.reclaim(ctx); err != nil {
				return core.Delivery{}, false, b.readError(ctx, err)
			}
			if d, ok, _ := b.reader.pop(nil); ok {
				return d, true, nil
			}
		}
		if !self {
			return core.Delivery{}, false, nil
		}
		remaining := time.Until(deadline)
		if remaining < time.Millisecond {
			return core.Delivery{}, false, nil
		}
		if err := b.read(ctx, min(remaining, b.cfg.Block)); err != nil {
			return core.Delivery{}, false, b.readError(ctx, err)
		}
	}
}

// checkOwn runs ownership.checkOwn within Timeout.
func (b *Backend) checkOwn(ctx context.Context) error {
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	if err := b.own.checkOwn(ctx); err != nil && !isNoGroup(err) {
		return fmt.Errorf("redis: count this consumer's pending entries: %w", err)
	}
	return nil
}

// read reads new entries into the buffer, blocking at most block (and
// giving up at Block + Timeout on a silent connection).
func (b *Backend) read(ctx context.Context, block time.Duration) error {
	ctx, cancel := bounded(ctx, block+b.cfg.Timeout)
	defer cancel()
	if b.cfg.Mode != ModeGroup {
		msgs, err := b.reader.readStream(ctx, block)
		for _, m := range msgs {
			b.accept(ctx, m, 1, time.Time{})
		}
		return err
	}
	count := b.reader.nextCount()
	b.own.handing.RLock()
	defer b.own.handing.RUnlock()
	msgs, err := b.reader.readGroup(ctx, block, count)
	if isNoGroup(err) {
		return b.recreateGroup(ctx)
	}
	if err != nil {
		b.own.replyLost()
		return err
	}
	b.absorb(ctx, msgs, count)
	return nil
}

// absorb buffers what a read of count entries fetched in the group (with
// the handing lock held) and hands back what Close left no buffer for.
func (b *Backend) absorb(ctx context.Context, msgs []goredis.XMessage, count int) {
	var late []core.Delivery // read while Close emptied the buffer
	now := time.Now()        // one reading of the clock for all the read's entries, not one an entry
	for _, m := range msgs {
		if d, buffered := b.accept(ctx, m, 1, now); !buffered && d.Receipt != "" {
			late = append(late, d)
		}
	}
	b.reader.noteRead(len(msgs), count)
	b.handBackLate(ctx, late)
}

// handBackLate puts back the deliveries a read or claim brought in after
// Close emptied the buffer, rather than leave them pending for a consumer
// that is gone: in one call, within a Timeout of its own.
func (b *Backend) handBackLate(ctx context.Context, late []core.Delivery) {
	if len(late) == 0 {
		return
	}
	hctx, cancel := bounded(context.WithoutCancel(ctx), b.cfg.Timeout)
	defer cancel()
	b.handBack(hctx, late)
}

// readAhead reads the next entries in the background, without blocking
// (see reader), on a context of its own bounded by Timeout. Close waits for
// it (up to CloseTimeout), and what it brings after Close is handed back.
func (b *Backend) readAhead() {
	b.aheads.Add(1)
	go func() {
		var err error
		if !b.isClosed() {
			err = b.read(context.Background(), -1)
		}
		b.reader.aheadDone(err)
	}()
}

// readError turns what a read returned into what Pull returns: the context's
// error when it ended the read, ErrClosed after Close.
func (b *Backend) readError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case b.isClosed():
		return core.ErrClosed
	}
	reloadOnNetError(b.rdb, err)
	return classify(err)
}

// accept buffers a read or claimed entry as a delivery, or dead-letters it
// when it is not a valid event. In ModeGroup it reports the delivery
// unbuffered (buffered false, a Receipt) when Close emptied the buffer
// since the read: the caller puts it back. now is when the entry was read
// or claimed (ModeGroup: the start of its lease).
func (b *Backend) accept(ctx context.Context, m goredis.XMessage, attempt int, now time.Time) (d core.Delivery, buffered bool) {
	e, bad := decodeEntry(m.Values, b.cfg.MaxEventBytes)
	if bad != nil {
		b.deadLetterEntry(ctx, m.ID, bad.raw, "", bad.reason, bad.err, attempt, "")
		return core.Delivery{}, false
	}
	d = core.Delivery{Event: e, Receipt: m.ID, Attempt: attempt}
	if b.cfg.Mode != ModeGroup {
		return d, b.reader.push(d)
	}
	b.own.hold(m.ID, now) // before the buffer hands it out, and so before it is committed
	return d, b.reader.push(d)
}
