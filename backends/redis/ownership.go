package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// ownership keeps the rules on which entries this consumer may commit,
// reclaim or take back; they are what a change here is most likely to
// break:
//   - An entry is this consumer's while it is pending under its name in the
//     group. Only then may it commit the entry: the commit script checks it
//     and writes nothing otherwise (core.ErrDeliveryLost).
//   - held is what this consumer has read and not yet committed or
//     acknowledged: buffered or being handled. Those entries are pending for
//     it but not stuck; reclaim and take-back leave them alone.
//   - Reclaim takes entries pending with any consumer for ClaimMinIdle
//     (XPENDING IDLE, then XCLAIM with the same min-idle, so two consumers
//     never both take one), and dead-letters those delivered MaxDeliveries
//     times instead.
//   - An entry pending under this consumer's name that it does not hold was
//     lost on the way: a read reply lost with the connection, or a previous
//     process with the same Config.Consumer. Take-back claims it again at
//     once instead of after ClaimMinIdle, but only while it is still this
//     consumer's (one script checks and claims), at start and after a read
//     or claim failed (replyLost). A command sent on a connection that then
//     failed may still reach Redis later (a link that heals delivers what
//     the client had sent before it gave up), so for ClaimMinIdle after a
//     failure the consumer compares, every lostCheckEvery, what is pending
//     under its name with what it holds, and takes back the difference.
//   - handing is held shared by what hands entries to this consumer (reads,
//     reclaim) until they are held, and exclusively by take-back, which
//     must not mistake an entry a read is still receiving for a lost one.
//   - A held entry is leased: while this consumer holds it, the
//     maintenance renews its idle time (leaseEvery), without raising its
//     delivery count, so that no other consumer reclaims an entry a live
//     consumer is still handling, however slow the handler.
type ownership struct {
	rdb goredis.UniversalClient
	cfg *Config

	handing sync.RWMutex

	mu         sync.Mutex
	held       map[string]time.Time // when held, or its lease last renewed
	recoverOwn bool                 // entries may be pending for this consumer that it never received
	lastClaim  time.Time            // the last reclaim round; zero: due at once
	suspectTo  time.Time            // until when a late command of a failed connection may land
	lastCheck  time.Time            // the last comparison of what is pending with what is held
}

// lostCheckEvery is how often a consumer compares what is pending under its
// name with what it holds, after a failure (see ownership).
const lostCheckEvery = time.Second

func newOwnership(rdb goredis.UniversalClient, cfg *Config) *ownership {
	return &ownership{rdb: rdb, cfg: cfg, held: make(map[string]time.Time), recoverOwn: cfg.Mode == ModeGroup}
}

// leaseEvery is how often held entries' leases are renewed, and how old a
// lease may grow before it is: an entry's idle time stays under half of
// ClaimMinIdle while it is held, with room for a renewal that fails.
func (o *ownership) leaseEvery() time.Duration { return max(o.cfg.ClaimMinIdle/4, 10*time.Millisecond) }

// hold records that this consumer holds the entry receipt, since now.
func (o *ownership) hold(receipt string, now time.Time) {
	o.mu.Lock()
	o.held[receipt] = now
	o.mu.Unlock()
}

// expiring returns the held entries whose lease is older than leaseEvery.
func (o *ownership) expiring() []any {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ids []any
	limit := time.Now().Add(-o.leaseEvery())
	for id, at := range o.held {
		if at.Before(limit) {
			ids = append(ids, id)
		}
	}
	return ids
}

// renewed records that the leases of ids were renewed at t.
func (o *ownership) renewed(ids []string, t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, id := range ids {
		if _, ok := o.held[id]; ok {
			o.held[id] = t
		}
	}
}

// oldest returns the oldest entry this consumer holds, if any.
func (o *ownership) oldest() (streamID, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var first streamID
	found := false
	for receipt := range o.held {
		if id, err := parseStreamID(receipt); err == nil && (!found || id.less(first)) {
			first, found = id, true
		}
	}
	return first, found
}

// letGo forgets a receipt this consumer no longer holds.
func (o *ownership) letGo(receipt string) {
	if receipt == "" {
		return
	}
	o.mu.Lock()
	delete(o.held, receipt)
	o.mu.Unlock()
}

// count returns how many entries this consumer holds.
func (o *ownership) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.held)
}

// mustRecover reports whether this consumer should look for its own pending
// entries before it reads: see takeBackOwn.
func (o *ownership) mustRecover() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.recoverOwn
}

// noChoreDue reports whether Pull has no recovery nor reclaim round to do
// the next time the buffer is empty: no take-back asked for, no comparison
// of what is pending with what is held, no reclaim round due. It starts
// none of them; while one is due a read-ahead waits, so that the buffer
// does empty.
func (o *ownership) noChoreDue() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	return !o.recoverOwn && now.Sub(o.lastClaim) < o.cfg.ClaimInterval &&
		(now.After(o.suspectTo) || now.Sub(o.lastCheck) < lostCheckEvery)
}

// replyLost records that a command that hands entries to this consumer
// failed: Redis may have run it and the reply been lost with the connection,
// leaving entries pending for this consumer that it never received.
func (o *ownership) replyLost() {
	o.mu.Lock()
	o.recoverOwn = true
	o.suspectTo = time.Now().Add(o.cfg.ClaimMinIdle)
	o.mu.Unlock()
}

// checkDue reports whether to compare what is pending under this
// consumer's name with what it holds now, and if so starts it.
func (o *ownership) checkDue() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	if now.After(o.suspectTo) || now.Sub(o.lastCheck) < lostCheckEvery {
		return false
	}
	o.lastCheck = now
	return true
}

// checkOwn compares how many entries are pending under this consumer's
// name with how many it holds, and asks for a take-back when more are
// pending: entries of a command that landed late.
func (o *ownership) checkOwn(ctx context.Context) error {
	p, err := o.rdb.XPending(ctx, o.cfg.Stream, o.cfg.Group).Result()
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if p.Consumers[o.cfg.Consumer] > int64(len(o.held)) {
		o.recoverOwn = true
	}
	return nil
}

// claimDue reports whether a reclaim round is due, and if so starts it.
func (o *ownership) claimDue() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if time.Since(o.lastClaim) < o.cfg.ClaimInterval {
		return false
	}
	o.lastClaim = time.Now()
	return true
}

// stuck lists up to limit entries pending with any consumer for
// ClaimMinIdle that this consumer does not hold, with their delivery counts
// and consumers. When it finds limit of them, the next round is due at once.
func (o *ownership) stuck(ctx context.Context, limit int) ([]string, []goredis.XPendingExt, error) {
	pending, err := o.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream: o.cfg.Stream, Group: o.cfg.Group, Idle: o.cfg.ClaimMinIdle,
		Start: "-", End: "+", Count: int64(o.cfg.Batch),
	}).Result()
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, 0, len(pending))
	chosen := pending[:0]
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range pending {
		if len(ids) == limit {
			break
		}
		if _, mine := o.held[p.ID]; mine && p.Consumer == o.cfg.Consumer {
			continue // in this consumer's buffer or being handled: slow, not stuck
		}
		ids = append(ids, p.ID)
		chosen = append(chosen, p)
	}
	if len(ids) == limit {
		o.lastClaim = time.Time{} // more may be stuck: the next round is due at once
	}
	return ids, chosen, nil
}

// lostOwn lists up to limit entries pending under this consumer's name that
// it does not hold, paging past those it holds. It clears recoverOwn unless
// it found limit of them (more may be left: again before the next read).
func (o *ownership) lostOwn(ctx context.Context, limit int) ([]any, error) {
	var ids []any
	for start := "-"; len(ids) < limit; {
		page, err := o.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
			Stream: o.cfg.Stream, Group: o.cfg.Group, Consumer: o.cfg.Consumer,
			Start: start, End: "+", Count: int64(o.cfg.Batch),
		}).Result()
		if err != nil {
			return nil, err
		}
		o.mu.Lock()
		for _, p := range page {
			if _, held := o.held[p.ID]; !held && len(ids) < limit {
				ids = append(ids, p.ID)
			}
		}
		o.mu.Unlock()
		if len(page) < o.cfg.Batch {
			break
		}
		last, err := parseStreamID(page[len(page)-1].ID)
		if err != nil {
			return nil, err
		}
		start = last.next().String()
	}
	o.mu.Lock()
	o.recoverOwn = len(ids) == limit
	o.mu.Unlock()
	return ids, nil
}

// reclaim claims the entries that have sat unacknowledged with any consumer
// for ClaimMinIdle, and dead-letters those already delivered MaxDeliveries
// times. It claims no more than a read would fetch (see nextCount); when
// that leaves some, it looks again as soon as it has handed these out.
func (b *Backend) reclaim(ctx context.Context) error {
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	b.own.handing.RLock()
	defer b.own.handing.RUnlock()
	ids, pending, err := b.own.stuck(ctx, b.reader.nextCount())
	if isNoGroup(err) {
		return b.recreateGroup(ctx)
	}
	if err != nil {
		return fmt.Errorf("redis: list pending entries: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	msgs, err := b.rdb.XClaim(ctx, &goredis.XClaimArgs{
		Stream: b.cfg.Stream, Group: b.cfg.Group, Consumer: b.cfg.Consumer,
		MinIdle: b.cfg.ClaimMinIdle, Messages: ids,
	}).Result()
	if err != nil {
		b.own.replyLost()
		return fmt.Errorf("redis: claim pending entries: %w", err)
	}
	info := make(map[string]goredis.XPendingExt, len(pending))
	for _, p := range pending {
		info[p.ID] = p
	}
	claimed := make([]claimedEntry, len(msgs))
	for i, m := range msgs {
		claimed[i] = claimedEntry{XMessage: m, from: info[m.ID].Consumer, delivered: int(info[m.ID].RetryCount)}
	}
	b.acceptClaimed(ctx, claimed, "redis: reclaimed a stuck entry")
	return nil
}

// takeBackOwn takes back the entries pending under this consumer's name
// that it does not hold (see ownership).
func (b *Backend) takeBackOwn(ctx context.Context) error {
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	b.own.handing.Lock() // no read may be under way: its entries are pending and not yet held
	defer b.own.handing.Unlock()
	ids, err := b.own.lostOwn(ctx, b.reader.nextCount())
	if isNoGroup(err) {
		return b.recreateGroup(ctx)
	}
	if err != nil {
		return fmt.Errorf("redis: list this consumer's pending entries: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	res, err := takeBackScript.Run(ctx, b.rdb, []string{b.cfg.Stream},
		append([]any{b.cfg.Group, b.cfg.Consumer}, ids...)...).Slice()
	if err != nil {
		b.own.replyLost()
		return fmt.Errorf("redis: take back this consumer's pending entries: %w", err)
	}
	claimed, err := parseTakenBack(res)
	if err != nil {
		return fmt.Errorf("redis: take back this consumer's pending entries: %w", err)
	}
	for i := range claimed {
		claimed[i].from = b.cfg.Consumer
	}
	b.acceptClaimed(ctx, claimed, "redis: took back an entry pending for this consumer that it had not received")
	return nil
}

// renewLeases renews the leases of the held entries that are due (see
// ownership).
func (b *Backend) renewLeases(ctx context.Context) error {
	ids := b.own.expiring()
	if len(ids) == 0 {
		return nil
	}
	start := time.Now()
	renewed, err := leaseScript.Run(ctx, b.rdb, []string{b.cfg.Stream}, append([]any{b.cfg.Group, b.cfg.Consumer}, ids...)...).StringSlice()
	if err != nil {
		return fmt.Errorf("redis: renew the leases of %d entries: %w", len(ids), err)
	}
	b.own.renewed(renewed, start)
	if len(renewed) < len(ids) {
		b.log.LogAttrs(ctx, slog.LevelWarn, "redis: entries this consumer is handling are no longer its own: their commits will write nothing",
			slog.Int(keyEntries, len(ids)-len(renewed)))
	}
	return nil
}

// claimedEntry is an entry this consumer has just claimed: from whom, and
// how many times it had been delivered before the claim.
type claimedEntry struct {
	goredis.XMessage
	from      string
	delivered int
}

// acceptClaimed buffers claimed entries, or dead-letters those delivered
// MaxDeliveries times already, and counts them as a read for nextCount.
func (b *Backend) acceptClaimed(ctx context.Context, claimed []claimedEntry, msg string) {
	var late []core.Delivery // claimed while Close emptied the buffer
	now := time.Now()
	for _, c := range claimed {
		if c.delivered >= b.cfg.MaxDeliveries {
			raw, _ := rawEvent(c.Values)
			if raw == "" {
				raw = describe(c.Values)
			}
			b.deadLetterEntry(ctx, c.ID, cut(raw, b.cfg.MaxEventBytes), "", ReasonMaxDeliveries,
				fmt.Sprintf("delivered %d times without being acknowledged", c.delivered), c.delivered, "")
			continue
		}
		b.log.LogAttrs(ctx, slog.LevelInfo, msg,
			slog.String(keyEntryID, c.ID), slog.String(keyFromConsumer, c.from), slog.Int(core.KeyAttempt, c.delivered+1))
		if d, buffered := b.accept(ctx, c.XMessage, c.delivered+1, now); !buffered && d.Receipt != "" {
			late = append(late, d)
		}
	}
	b.reader.noteRead(len(claimed), len(claimed)+1) // as a read would, but not a backlog of new entries
	b.handBackLate(ctx, late)
}

// parseTakenBack reads takeBackScript's answer.
func parseTakenBack(res []any) ([]claimedEntry, error) {
	out := make([]claimedEntry, 0, len(res))
	for _, r := range res {
		item, ok := r.([]any)
		if !ok || len(item) != 3 {
			return nil, fmt.Errorf("unexpected answer %v", r)
		}
		id, ok1 := item[0].(string)
		fields, ok2 := item[1].([]any)
		n, ok3 := item[2].(int64)
		if !ok1 || !ok2 || !ok3 || len(fields)%2 != 0 {
			return nil, fmt.Errorf("unexpected entry %v", r)
		}
		values := make(map[string]any, len(fields)/2)
		for i := 0; i < len(fields); i += 2 {
			k, _ := fields[i].(string)
			values[k] = fields[i+1]
		}
		out = append(out, claimedEntry{XMessage: goredis.XMessage{ID: id, Values: values}, delivered: int(n)})
	}
	return out, nil
}
