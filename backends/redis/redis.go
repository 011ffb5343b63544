package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// Compile-time checks of the capabilities the Spine discovers.
var (
	_ core.Backend        = (*Backend)(nil)
	_ core.Committer      = (*Backend)(nil)
	_ core.DeadLetterer   = (*Backend)(nil)
	_ core.Releaser       = (*Backend)(nil)
	_ core.BatchCommitter = (*Backend)(nil)
)

// Backend is a NecroStack backend on a Redis stream. It is safe for
// concurrent use.
type Backend struct {
	cfg    Config
	rdb    goredis.UniversalClient
	ownRDB bool
	log    *slog.Logger

	closeOnce sync.Once
	closed    chan struct{}
	// readSem lets one XREAD at a time run in ModeStream, where reads share
	// one position in the stream.
	readSem chan struct{}
	// readMu is held shared by what hands entries to this consumer (reads,
	// reclaim) until they are in the buffer, and exclusively by the
	// recovery of its own pending entries, which must not mistake entries
	// a read is still receiving for lost ones.
	readMu sync.RWMutex

	mu         sync.Mutex
	buf        []core.Delivery // read from Redis; buf[head:] not yet handed out
	head       int             // so that the array is reused from one read to the next
	lastClaim  time.Time
	lastTrim   time.Time
	streamLast string // ModeStream: id of the last entry read
	groupReady bool
	// ModeGroup reads ask for count entries (see nextCount). lastRead is
	// when the last read that fetched something returned, and lastN how
	// many it fetched.
	count    int
	lastRead time.Time
	lastN    int
	// recoverOwn: entries may be pending for this consumer that it never
	// received (a reply lost with the connection, or a previous process
	// under the same consumer name); see takeBackOwn.
	recoverOwn bool
	// held holds the receipts of the entries this consumer has read and not
	// yet committed or acknowledged (buffered or being handled): they are
	// pending for it but not stuck, and reclaim leaves them alone.
	held map[string]struct{}
}

// New returns a Backend for cfg. It validates cfg, and in ModeGroup creates
// the consumer group (with the stream) when Redis can be reached; when it
// cannot, the group is created on first use, so workers may start before
// Redis does.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Backend{cfg: cfg, log: cfg.Logger, closed: make(chan struct{}), readSem: make(chan struct{}, 1), rdb: cfg.Client,
		held: make(map[string]struct{})}
	if b.rdb == nil {
		c, err := clientFromURL(cfg.URL)
		if err != nil {
			return nil, err
		}
		b.rdb, b.ownRDB = c, true
	}
	if cfg.Mode == ModeGroup {
		b.recoverOwn = true
		if err := b.ensureGroup(ctx); err != nil {
			b.log.LogAttrs(ctx, slog.LevelWarn, "redis: cannot create the consumer group yet; will retry on first read",
				slog.String("stream", cfg.Stream), slog.String("group", cfg.Group), slog.String("error", err.Error()))
		}
	} else {
		b.streamLast = "$"
		if err := b.resolveStreamStart(ctx); err != nil {
			b.log.LogAttrs(ctx, slog.LevelWarn, "redis: cannot read the stream's end yet; will read from the first entry added after the connection",
				slog.String("stream", cfg.Stream), slog.String("error", err.Error()))
		}
	}
	return b, nil
}

// Config returns the configuration in force, defaults applied.
func (b *Backend) Config() Config { return b.cfg }

// Client returns the go-redis client the Backend uses.
func (b *Backend) Client() goredis.UniversalClient { return b.rdb }

func (b *Backend) isClosed() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}

// ensureGroup creates the consumer group, and the stream with it, reading
// from the start of the stream so that nothing enqueued before the first
// worker is missed. An existing group (BUSYGROUP) is fine.
func (b *Backend) ensureGroup(ctx context.Context) error {
	err := b.rdb.XGroupCreateMkStream(ctx, b.cfg.Stream, b.cfg.Group, "0").Err()
	if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("redis: create group %q on %q: %w", b.cfg.Group, b.cfg.Stream, err)
	}
	b.mu.Lock()
	b.groupReady = true
	b.mu.Unlock()
	return nil
}

// resolveStreamStart turns "$" into the id of the stream's last entry, so
// that ModeStream reads everything enqueued after New.
func (b *Backend) resolveStreamStart(ctx context.Context) error {
	msgs, err := b.rdb.XRevRangeN(ctx, b.cfg.Stream, "+", "-", 1).Result()
	if err != nil {
		return err
	}
	last := "0-0"
	if len(msgs) == 1 {
		last = msgs[0].ID
	}
	b.mu.Lock()
	if b.streamLast == "$" {
		b.streamLast = last
	}
	b.mu.Unlock()
	return nil
}

// Ping checks that Redis answers, within ctx. New does not require it (a
// worker may start before Redis); a command that must fail fast can call it.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Enqueue adds e to the stream (XADD).
func (b *Backend) Enqueue(ctx context.Context, e core.Event) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	wire, err := b.wire(e)
	if err != nil {
		return err
	}
	if err := b.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: b.cfg.Stream, Values: []any{fieldEvent, wire}}).Err(); err != nil {
		return fmt.Errorf("redis: enqueue %s: %w", e, err)
	}
	return nil
}

// wire returns the wire form of e, checked against MaxEventBytes. go-redis
// sends a []byte argument as it is, so it is never copied into a string.
func (b *Backend) wire(e core.Event) ([]byte, error) {
	return b.appendWire(make([]byte, 0, 256), e) // most events fit: one allocation
}

// appendWire appends the wire form of e to buf, checked against
// MaxEventBytes; on error it returns buf as it was.
func (b *Backend) appendWire(buf []byte, e core.Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return buf, err
	}
	start := len(buf)
	out := e.AppendJSON(buf)
	if n := len(out) - start; n > b.cfg.MaxEventBytes {
		return buf, core.Permanent(fmt.Errorf("redis: event %s is %d bytes, more than MaxEventBytes (%d)", e, n, b.cfg.MaxEventBytes))
	}
	return out, nil
}

// Pull returns the next event. In ModeGroup it first hands out what the last
// read fetched, now and then reclaims entries stuck with dead consumers, and
// otherwise reads new entries with XREADGROUP, blocking at most Config.Block
// at a time until timeout. Entries that are not valid events are
// dead-lettered and acknowledged on the way, never returned.
func (b *Backend) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		if b.isClosed() {
			return core.Delivery{}, false, core.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return core.Delivery{}, false, err
		}
		if d, ok := b.popBuffered(); ok {
			return d, true, nil
		}
		if b.cfg.Mode == ModeGroup && b.mustRecover() {
			if err := b.takeBackOwn(ctx); err != nil {
				return core.Delivery{}, false, b.readError(ctx, err)
			}
			if d, ok := b.popBuffered(); ok {
				return d, true, nil
			}
		}
		if b.cfg.Mode == ModeGroup && b.due(&b.lastClaim, b.cfg.ClaimInterval) {
			// Before reclaim: a dead consumer is removed the round after its
			// entries have been moved, never with them.
			if err := b.removeIdleConsumers(ctx); err != nil {
				b.log.LogAttrs(ctx, slog.LevelDebug, "redis: could not remove idle consumers", slog.String("error", err.Error()))
			}
			if err := b.reclaim(ctx); err != nil {
				return core.Delivery{}, false, b.readError(ctx, err)
			}
			if b.cfg.Trim.enabled() && b.due(&b.lastTrim, b.cfg.Trim.Interval) {
				if err := b.trim(ctx); err != nil {
					b.log.LogAttrs(ctx, slog.LevelWarn, "redis: trim failed", slog.String("error", err.Error()))
				}
			}
			if d, ok := b.popBuffered(); ok {
				return d, true, nil
			}
		}
		remaining := time.Until(deadline)
		if remaining < time.Millisecond {
			return core.Delivery{}, false, nil
		}
		block := min(remaining, b.cfg.Block)
		var err error
		if b.cfg.Mode == ModeGroup {
			err = b.readGroup(ctx, block)
		} else {
			err = b.readStream(ctx, block)
		}
		if err != nil {
			return core.Delivery{}, false, b.readError(ctx, err)
		}
	}
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
	return err
}

func (b *Backend) popBuffered() (core.Delivery, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.head == len(b.buf) {
		return core.Delivery{}, false
	}
	d := b.buf[b.head]
	b.buf[b.head] = core.Delivery{}
	b.head++
	if b.head == len(b.buf) {
		b.buf, b.head = b.buf[:0], 0
	}
	return d, true
}

// due reports whether interval has passed since *last, and if so moves
// *last to now: a cheap timer for the chores Pull does now and then.
func (b *Backend) due(last *time.Time, interval time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(*last) < interval {
		return false
	}
	*last = time.Now()
	return true
}

// firstCount is what a consumer's first read in a group fetches, and
// holdTarget how long what one read fetched may wait in its buffer before it
// is all handed out: see nextCount.
const (
	firstCount = 8
	holdTarget = 20 * time.Millisecond
)

// nextCount returns how many entries the next read in the group asks for.
// Entries a consumer has read wait for it alone, however busy it is, while
// other consumers may be idle; so it reads about what it hands out within
// holdTarget. The count doubles, up to Config.Batch, after a full read that
// was all handed out sooner; after a read that took longer, it drops to
// what was handed out within holdTarget (at most half, at least 1). Quick
// handlers get large reads (fewer round trips, larger commit batches); slow
// ones get one entry at a time, and the rest of the stream goes to
// whichever consumer is free.
func (b *Backend) nextCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.count == 0 {
		b.count = min(firstCount, b.cfg.Batch)
		return b.count
	}
	if b.lastRead.IsZero() {
		return b.count // nothing learnt since the last read asked
	}
	held := time.Since(b.lastRead)
	b.lastRead = time.Time{} // one adjustment per read, however many goroutines pull
	switch {
	case held > holdTarget:
		b.count = max(min(b.count/2, int(int64(b.lastN)*int64(holdTarget)/int64(held))), 1)
	case b.lastN >= b.count:
		b.count = min(b.count*2, b.cfg.Batch)
	}
	return b.count
}

func (b *Backend) readGroup(ctx context.Context, block time.Duration) error {
	count := b.nextCount()
	b.readMu.RLock()
	defer b.readMu.RUnlock()
	streams, err := b.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group:    b.cfg.Group,
		Consumer: b.cfg.Consumer,
		Streams:  []string{b.cfg.Stream, ">"},
		Count:    int64(count),
		Block:    block,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	if isNoGroup(err) {
		return b.recreateGroup(ctx)
	}
	if err != nil {
		b.replyLost()
		return fmt.Errorf("redis: read group %q: %w", b.cfg.Group, err)
	}
	n := 0
	for _, s := range streams {
		for _, m := range s.Messages {
			b.accept(ctx, m, 1)
		}
		n += len(s.Messages)
	}
	// Once the entries are in the buffer: a Pull that finds it empty before
	// then has not handed them out.
	b.noteRead(n)
	return nil
}

// noteRead records that n entries (if any) were just buffered, for
// nextCount.
func (b *Backend) noteRead(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.lastRead, b.lastN = time.Now(), n
	b.mu.Unlock()
}

// recreateGroup handles NOGROUP: Redis lost the group (a restart without
// persistence, or someone deleted it). Entries it had pending are gone with
// it; that loss is Redis's and is logged.
func (b *Backend) recreateGroup(ctx context.Context) error {
	b.mu.Lock()
	was := b.groupReady
	b.mu.Unlock()
	if err := b.ensureGroup(ctx); err != nil {
		return err
	}
	if was {
		b.log.LogAttrs(ctx, slog.LevelError, "redis: consumer group was lost (Redis restarted without persistence?); re-created it: entries it had pending are gone",
			slog.String("stream", b.cfg.Stream), slog.String("group", b.cfg.Group))
	}
	return nil
}

func (b *Backend) readStream(ctx context.Context, block time.Duration) error {
	select {
	case b.readSem <- struct{}{}:
		defer func() { <-b.readSem }()
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(block):
		return nil // another Pull is reading; this one times out instead
	}
	b.mu.Lock()
	last := b.streamLast
	b.mu.Unlock()
	if last == "$" {
		if err := b.resolveStreamStart(ctx); err != nil {
			return fmt.Errorf("redis: read stream %q: %w", b.cfg.Stream, err)
		}
		b.mu.Lock()
		last = b.streamLast
		b.mu.Unlock()
	}
	streams, err := b.rdb.XRead(ctx, &goredis.XReadArgs{
		Streams: []string{b.cfg.Stream, last},
		Count:   int64(b.cfg.Batch),
		Block:   block,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("redis: read stream %q: %w", b.cfg.Stream, err)
	}
	for _, s := range streams {
		for _, m := range s.Messages {
			b.mu.Lock()
			b.streamLast = m.ID
			b.mu.Unlock()
			b.accept(ctx, m, 1)
		}
	}
	return nil
}

// accept buffers a read entry as a delivery, or dead-letters it when it is
// not a valid event.
func (b *Backend) accept(ctx context.Context, m goredis.XMessage, attempt int) {
	e, bad := decodeEntry(m.Values, b.cfg.MaxEventBytes)
	if bad != nil {
		b.deadLetterEntry(ctx, m.ID, bad.raw, "", bad.reason, bad.err, attempt)
		return
	}
	d := core.Delivery{Event: e, Receipt: m.ID, Attempt: attempt}
	b.mu.Lock()
	if b.isClosed() {
		// A read that was under way when Close emptied the buffer: put the
		// entry back rather than leave it pending for a consumer that is gone.
		b.mu.Unlock()
		if b.cfg.Mode == ModeGroup {
			if err := b.requeue(ctx, d); err != nil {
				b.log.LogAttrs(ctx, slog.LevelWarn, "redis: could not put back an entry read during close; another consumer will reclaim it",
					slog.String("entry_id", m.ID), slog.String(core.KeyError, err.Error()))
			}
		}
		return
	}
	b.buf = append(b.buf, d)
	if b.cfg.Mode == ModeGroup {
		b.held[m.ID] = struct{}{}
	}
	b.mu.Unlock()
}

// letGo forgets a receipt this consumer no longer holds.
func (b *Backend) letGo(receipt string) {
	if receipt == "" {
		return
	}
	b.mu.Lock()
	delete(b.held, receipt)
	b.mu.Unlock()
}

// deadLetterEntry moves a stream entry to the dead-letter stream and
// acknowledges it, atomically. Failing that, the entry stays pending and is
// dealt with again when reclaimed.
func (b *Backend) deadLetterEntry(ctx context.Context, entryID, raw, organ, reason, msg string, attempts int) {
	dl := dlFields{event: raw, organ: organ, reason: reason, err: msg, attempts: attempts,
		time: time.Now().UTC(), entryID: entryID}
	receipt := entryID
	if b.cfg.Mode != ModeGroup {
		receipt = "" // nothing to acknowledge
	}
	err := b.commit(ctx, receipt, nil, []dlFields{dl})
	level := slog.LevelWarn
	attrs := []slog.Attr{
		slog.String("stream", b.cfg.Stream), slog.String("entry_id", entryID),
		slog.String(core.KeyReason, reason), slog.String(core.KeyError, msg), slog.Int(core.KeyAttempt, attempts),
	}
	if err != nil {
		level = slog.LevelError
		attrs = append(attrs, slog.String("dead_letter_error", err.Error()))
		b.log.LogAttrs(ctx, level, "redis: could not dead-letter a bad entry; it stays pending", attrs...)
		return
	}
	b.log.LogAttrs(ctx, level, "redis: entry dead-lettered", attrs...)
}

// mustRecover reports whether this consumer should look for its own pending
// entries before it reads: see takeBackOwn.
func (b *Backend) mustRecover() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recoverOwn
}

// replyLost records that a command that hands entries to this consumer
// failed: Redis may have run it and the reply been lost with the connection,
// leaving entries pending for this consumer that it never received.
func (b *Backend) replyLost() {
	b.mu.Lock()
	b.recoverOwn = true
	b.mu.Unlock()
}

// reclaim claims the entries that have sat unacknowledged with any consumer
// for ClaimMinIdle, and dead-letters those already delivered MaxDeliveries
// times.
func (b *Backend) reclaim(ctx context.Context) error {
	b.readMu.RLock()
	defer b.readMu.RUnlock()
	pending, err := b.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream: b.cfg.Stream, Group: b.cfg.Group, Idle: b.cfg.ClaimMinIdle,
		Start: "-", End: "+", Count: int64(b.cfg.Batch),
	}).Result()
	if isNoGroup(err) {
		return b.recreateGroup(ctx)
	}
	if err != nil {
		return fmt.Errorf("redis: list pending entries: %w", err)
	}
	ids := make([]string, 0, len(pending))
	deliveries := make(map[string]int64, len(pending))
	from := make(map[string]string, len(pending))
	// It lists up to Batch entries (some may be its own), but claims no more
	// than it would read (see nextCount); when that leaves some, it looks
	// again as soon as it has handed these out.
	limit := b.nextCount()
	b.mu.Lock()
	for _, p := range pending {
		if len(ids) == limit {
			break
		}
		if _, mine := b.held[p.ID]; mine && p.Consumer == b.cfg.Consumer {
			continue // in this consumer's buffer or being handled: slow, not stuck
		}
		ids = append(ids, p.ID)
		deliveries[p.ID] = p.RetryCount
		from[p.ID] = p.Consumer
	}
	if len(ids) == limit {
		b.lastClaim = time.Time{} // more may be stuck: the next round is due at once
	}
	b.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	// XCLAIM with the same min-idle: an entry another consumer claimed or
	// acknowledged meanwhile is not taken.
	msgs, err := b.rdb.XClaim(ctx, &goredis.XClaimArgs{
		Stream: b.cfg.Stream, Group: b.cfg.Group, Consumer: b.cfg.Consumer,
		MinIdle: b.cfg.ClaimMinIdle, Messages: ids,
	}).Result()
	if err != nil {
		b.replyLost()
		return fmt.Errorf("redis: claim pending entries: %w", err)
	}
	claimed := make([]claimedEntry, len(msgs))
	for i, m := range msgs {
		claimed[i] = claimedEntry{XMessage: m, from: from[m.ID], delivered: int(deliveries[m.ID])}
	}
	b.acceptClaimed(ctx, claimed, "redis: reclaimed a stuck entry")
	return nil
}

// takeBackOwn takes back the entries pending under this consumer's name
// that it does not hold: those of a read whose reply was lost, or of a
// previous process with the same Config.Consumer. It runs at start and
// after a failed read or claim (see replyLost), so they need not wait
// ClaimMinIdle for reclaim.
func (b *Backend) takeBackOwn(ctx context.Context) error {
	// No read may be under way: its entries are pending and not yet held.
	b.readMu.Lock()
	defer b.readMu.Unlock()
	limit := b.nextCount()
	var ids []any
	for start := "-"; len(ids) < limit; {
		page, err := b.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
			Stream: b.cfg.Stream, Group: b.cfg.Group, Consumer: b.cfg.Consumer,
			Start: start, End: "+", Count: int64(b.cfg.Batch),
		}).Result()
		if isNoGroup(err) {
			return b.recreateGroup(ctx)
		}
		if err != nil {
			return fmt.Errorf("redis: list this consumer's pending entries: %w", err)
		}
		b.mu.Lock()
		for _, p := range page {
			if _, held := b.held[p.ID]; !held && len(ids) < limit {
				ids = append(ids, p.ID)
			}
		}
		b.mu.Unlock()
		if len(page) < b.cfg.Batch {
			break
		}
		last, err := parseStreamID(page[len(page)-1].ID)
		if err != nil {
			return fmt.Errorf("redis: list this consumer's pending entries: %w", err)
		}
		start = last.next().String()
	}
	b.mu.Lock()
	b.recoverOwn = len(ids) == limit // more may be left: again before the next read
	b.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	res, err := takeBackScript.Run(ctx, b.rdb, []string{b.cfg.Stream},
		append([]any{b.cfg.Group, b.cfg.Consumer}, ids...)...).Slice()
	if err != nil {
		b.replyLost()
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
	for _, c := range claimed {
		if c.delivered >= b.cfg.MaxDeliveries {
			raw, _ := rawEvent(c.Values)
			if raw == "" {
				raw = describe(c.Values)
			}
			b.deadLetterEntry(ctx, c.ID, cut(raw, b.cfg.MaxEventBytes), "", ReasonMaxDeliveries,
				fmt.Sprintf("delivered %d times without being acknowledged", c.delivered), c.delivered)
			continue
		}
		b.log.LogAttrs(ctx, slog.LevelInfo, msg,
			slog.String("entry_id", c.ID), slog.String("from_consumer", c.from), slog.Int(core.KeyAttempt, c.delivered+1))
		b.accept(ctx, c.XMessage, c.delivered+1)
	}
	b.noteRead(len(claimed)) // as a read would
}

// Ack acknowledges d (XACK) in ModeGroup; in ModeStream it does nothing.
func (b *Backend) Ack(ctx context.Context, d core.Delivery) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	if b.cfg.Mode != ModeGroup || d.Receipt == "" {
		return nil
	}
	n, err := b.rdb.XAck(ctx, b.cfg.Stream, b.cfg.Group, d.Receipt).Result()
	if err != nil {
		return fmt.Errorf("redis: ack %s: %w", d.Receipt, err)
	}
	b.letGo(d.Receipt)
	if n == 0 {
		return fmt.Errorf("redis: ack %s: %w", d.Receipt, core.ErrDeliveryLost)
	}
	return nil
}

// Commit adds the emitted events to the stream, the dead letters to the
// dead-letter stream, and acknowledges d, in one Lua script: all of it or
// none. In ModeGroup it first checks that d is still pending for this
// consumer; if another consumer reclaimed it, nothing is written and the
// error is core.ErrDeliveryLost.
func (b *Backend) Commit(ctx context.Context, d core.Delivery, out core.Outcome) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	var a commitArena
	sc, err := b.stage(d, out, &a)
	if err != nil {
		return err
	}
	staged := []stagedCommit{sc}
	a.resolve(staged)
	return b.commitMany(ctx, staged)[0]
}

// Release hands d out again: the next Pull returns it, before anything else.
// The entry stays pending for this consumer meanwhile; if the Backend is
// closed first, Close puts it back in the stream.
func (b *Backend) Release(_ context.Context, d core.Delivery) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	b.mu.Lock()
	if b.head > 0 {
		b.head--
		b.buf[b.head] = d
	} else {
		b.buf = append([]core.Delivery{d}, b.buf...)
	}
	b.mu.Unlock()
	return nil
}

// requeue puts d back at the end of the stream, as a new entry holding the
// same event, and acknowledges the old entry, atomically.
func (b *Backend) requeue(ctx context.Context, d core.Delivery) error {
	w, err := b.wire(d.Event)
	if err != nil {
		return err
	}
	return b.commit(ctx, d.Receipt, [][]byte{w}, nil)
}

// DeadLetter adds dl to the dead-letter stream.
func (b *Backend) DeadLetter(ctx context.Context, dl core.DeadLetter) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	f, err := fieldsOf(dl, "")
	if err != nil {
		return err
	}
	return b.commit(ctx, "", nil, []dlFields{f})
}

func (b *Backend) commit(ctx context.Context, receipt string, emitted [][]byte, dls []dlFields) error {
	return b.commitMany(ctx, []stagedCommit{{receipt: receipt, emitted: emitted, dls: dls}})[0]
}

// stagedCommit is a commit with its events already encoded.
type stagedCommit struct {
	receipt string // "" for none to check and acknowledge
	emitted [][]byte
	dls     []dlFields
	// Until commitArena.resolve sets emitted: where its wire forms start in
	// the arena, and how many there are.
	first, n int
}

// commitArena holds the wire forms of a batch's emitted events in one
// buffer, reused from batch to batch, instead of one allocation each.
type commitArena struct {
	buf   []byte
	ends  []int // ends[i]: where the i-th wire form ends in buf
	wires [][]byte
}

var commitArenas = sync.Pool{New: func() any { return new(commitArena) }}

// truncate drops the wire forms from the first-th on.
func (a *commitArena) truncate(first int) {
	start := 0
	if first > 0 {
		start = a.ends[first-1]
	}
	a.buf, a.ends = a.buf[:start], a.ends[:first]
}

// resolve points each staged commit's emitted at its wire forms, once
// nothing more is appended to buf.
func (a *commitArena) resolve(staged []stagedCommit) {
	a.wires = a.wires[:0]
	start := 0
	for _, end := range a.ends {
		a.wires = append(a.wires, a.buf[start:end:end])
		start = end
	}
	for i := range staged {
		sc := &staged[i]
		sc.emitted = a.wires[sc.first : sc.first+sc.n : sc.first+sc.n]
	}
}

// release returns a to the pool, unless a batch of large events grew it.
func (a *commitArena) release() {
	if cap(a.buf) > 4<<20 {
		return
	}
	clear(a.wires)
	a.buf, a.ends, a.wires = a.buf[:0], a.ends[:0], a.wires[:0]
	commitArenas.Put(a)
}

// commitMany runs the commits in one script call, each atomic on its own;
// it returns one error per commit.
func (b *Backend) commitMany(ctx context.Context, commits []stagedCommit) []error {
	errs := make([]error, len(commits))
	size := 3
	for _, c := range commits {
		size += 3 + len(c.emitted) + 7*len(c.dls)
	}
	// The script checks ownership with one XPENDING over the receipts'
	// range instead of one per commit.
	var lo, hi streamID
	have := false
	for _, c := range commits {
		if c.receipt == "" {
			continue
		}
		id, err := parseStreamID(c.receipt)
		if err != nil {
			continue // the per-entry check in the script deals with it
		}
		if !have || id.less(lo) {
			lo = id
		}
		if !have || hi.less(id) {
			hi = id
		}
		have = true
	}
	rangeStart, rangeEnd := "", ""
	if have {
		rangeStart, rangeEnd = lo.String(), hi.String()
	}
	rangeCount := 2*len(commits) + 2*b.cfg.Batch
	size += 3
	args := make([]any, 0, size)
	args = append(args, b.cfg.Group, b.cfg.Consumer, len(commits), rangeStart, rangeEnd, rangeCount)
	for _, c := range commits {
		args = append(args, c.receipt, len(c.emitted), len(c.dls))
		for _, w := range c.emitted {
			args = append(args, w)
		}
		for _, f := range c.dls {
			args = append(args, f.event, f.organ, f.reason, f.err, f.attempts, f.time.Format(time.RFC3339Nano), f.entryID)
		}
	}
	res, err := commitScript.Run(ctx, b.rdb, []string{b.cfg.Stream, b.cfg.DeadLetterStream}, args...).Int64Slice()
	if err == nil && len(res) != len(commits) {
		err = fmt.Errorf("commit script answered %d results for %d commits", len(res), len(commits))
	}
	for i, c := range commits {
		switch {
		case isNoGroup(err) && c.receipt != "":
			errs[i] = fmt.Errorf("redis: commit %s: consumer group lost: %w", c.receipt, core.ErrDeliveryLost)
		case err != nil:
			errs[i] = fmt.Errorf("redis: commit %s: %w", c.receipt, err) // retried
		case res[i] == 0:
			errs[i] = fmt.Errorf("redis: commit %s: %w", c.receipt, core.ErrDeliveryLost)
		}
		if errs[i] == nil || errors.Is(errs[i], core.ErrDeliveryLost) {
			b.letGo(c.receipt)
		}
	}
	if isNoGroup(err) {
		_ = b.recreateGroup(ctx) // the group, and with it these deliveries, is gone
	}
	return errs
}

// CommitBatch commits each outcome as Commit would, all in one script call
// (one round trip): each commit is atomic on its own, and one that fails
// its check (core.ErrDeliveryLost) or cannot be encoded does not stop the
// others.
func (b *Backend) CommitBatch(ctx context.Context, commits []core.Commit) []error {
	errs := make([]error, len(commits))
	if b.isClosed() {
		for i := range errs {
			errs[i] = core.ErrClosed
		}
		return errs
	}
	a := commitArenas.Get().(*commitArena)
	defer a.release() // go-redis is done with the arguments when commitMany returns
	staged := make([]stagedCommit, 0, len(commits))
	index := make([]int, 0, len(commits))
	for i, c := range commits {
		sc, err := b.stage(c.Delivery, c.Outcome, a)
		if err != nil {
			errs[i] = err
			continue
		}
		staged = append(staged, sc)
		index = append(index, i)
	}
	a.resolve(staged)
	// One script call per few MiB, so that a batch of large events does not
	// block Redis in one long script.
	const maxCallBytes = 4 << 20
	for start := 0; start < len(staged); {
		end, bytes := start, 0
		for end < len(staged) && (end == start || bytes+staged[end].size() <= maxCallBytes) {
			bytes += staged[end].size()
			end++
		}
		for j, err := range b.commitMany(ctx, staged[start:end]) {
			errs[index[start+j]] = err
		}
		start = end
	}
	return errs
}

func (c stagedCommit) size() int {
	n := 0
	for _, w := range c.emitted {
		n += len(w)
	}
	for _, f := range c.dls {
		n += len(f.event) + len(f.err)
	}
	return n
}

// stage encodes an outcome for the commit script. The emitted events' wire
// forms go to a, and sc.emitted points at them once a.resolve has run.
func (b *Backend) stage(d core.Delivery, out core.Outcome, a *commitArena) (stagedCommit, error) {
	sc := stagedCommit{receipt: d.Receipt, first: len(a.ends), n: len(out.Emitted)}
	if b.cfg.Mode != ModeGroup {
		sc.receipt = ""
	}
	for _, e := range out.Emitted {
		var err error
		if a.buf, err = b.appendWire(a.buf, e); err != nil {
			a.truncate(sc.first)
			return sc, err
		}
		a.ends = append(a.ends, len(a.buf))
	}
	if len(out.DeadLetters) > 0 {
		sc.dls = make([]dlFields, len(out.DeadLetters))
	}
	for i, dl := range out.DeadLetters {
		f, err := fieldsOf(dl, d.Receipt)
		if err != nil {
			a.truncate(sc.first)
			return sc, err
		}
		sc.dls[i] = f
	}
	return sc, nil
}

// Close stops the Backend: every later call returns core.ErrClosed. In
// ModeGroup, entries read but not yet handed out (or released) are put back
// in the stream, atomically with their acknowledgement, so no entry stays
// pending for this consumer. Close closes the client only if the Backend made
// it from a URL. It is safe to call more than once.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.closed)
		b.mu.Lock()
		buf := b.buf[b.head:]
		b.buf, b.head = nil, 0
		b.mu.Unlock()
		if b.cfg.Mode == ModeGroup && len(buf) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for _, d := range buf {
				if rerr := b.requeue(ctx, d); rerr != nil {
					b.log.LogAttrs(ctx, slog.LevelWarn, "redis: could not put back an unhandled entry at close; another consumer will reclaim it",
						slog.String("entry_id", d.Receipt), slog.String(core.KeyError, rerr.Error()))
				}
			}
		}
		if b.ownRDB {
			err = b.rdb.Close()
		}
	})
	return err
}

func isNoGroup(err error) bool {
	return err != nil && goredis.HasErrorPrefix(err, "NOGROUP")
}

// dlFields is a dead letter as stored in the dead-letter stream.
type dlFields struct {
	event    string // the event's wire form, or the raw entry when it was not one
	organ    string
	reason   string
	err      string
	attempts int
	time     time.Time
	entryID  string // the stream entry it came from, when known
}

func fieldsOf(dl core.DeadLetter, entryID string) (dlFields, error) {
	wire, err := dl.Event.MarshalJSON()
	if err != nil {
		return dlFields{}, fmt.Errorf("redis: dead letter: %w", err)
	}
	t := dl.Time
	if t.IsZero() {
		t = time.Now()
	}
	return dlFields{event: string(wire), organ: dl.Organ, reason: dl.Reason, err: dl.Error,
		attempts: dl.Attempts, time: t.UTC(), entryID: entryID}, nil
}

// commitScript commits a batch of outcomes, each atomically. KEYS: stream,
// dead-letter stream. ARGV: group, consumer, number of commits, the lowest
// and highest receipt ("" for none) and a bound for listing what is pending
// between them, then for each
// commit: entry id ("" for none), number of emitted events, number of dead
// letters, the emitted events' wire forms, and seven fields per dead letter.
// With an entry id it first checks the entry is still pending for this
// consumer, and writes nothing for that commit if not. It returns 1 (done) or
// 0 (lost) per commit.
var commitScript = goredis.NewScript(`
local group, consumer, k = ARGV[1], ARGV[2], tonumber(ARGV[3])
-- Check up front what could make a write fail: a script is not rolled back.
for _, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key).ok
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE key ' .. key .. ' holds a ' .. t .. ', not a stream')
  end
end
-- The entries pending for this consumer between the lowest and highest
-- receipt, in one call; if the answer may be cut short, entries not in it
-- are checked one by one.
local mine, complete = {}, false
if ARGV[4] ~= '' then
  local limit = tonumber(ARGV[6])
  local p = redis.call('XPENDING', KEYS[1], group, ARGV[4], ARGV[5], limit, consumer)
  for _, e in ipairs(p) do
    mine[e[1]] = true
  end
  complete = #p < limit
end
local res, acks, done = {}, {}, {}
local i = 7
for c = 1, k do
  local id, n, m = ARGV[i], tonumber(ARGV[i+1]), tonumber(ARGV[i+2])
  i = i + 3
  local ok = 1
  if id ~= '' and done[id] then
    ok = 0 -- committed earlier in this batch
  elseif id ~= '' and not mine[id] then
    if complete then
      ok = 0
    else
      local p = redis.call('XPENDING', KEYS[1], group, id, id, 1)
      if #p == 0 or p[1][2] ~= consumer then
        ok = 0
      end
    end
  end
  if ok == 1 then
    for _ = 1, n do
      redis.call('XADD', KEYS[1], '*', 'event', ARGV[i])
      i = i + 1
    end
    for _ = 1, m do
      redis.call('XADD', KEYS[2], '*', 'event', ARGV[i], 'organ', ARGV[i+1], 'reason', ARGV[i+2],
        'error', ARGV[i+3], 'attempts', ARGV[i+4], 'time', ARGV[i+5], 'entry_id', ARGV[i+6])
      i = i + 7
    end
    if id ~= '' then
      acks[#acks + 1] = id
      done[id] = true
    end
  else
    i = i + n + 7 * m
  end
  res[c] = ok
end
-- One XACK for the batch. Each commit stays all or nothing because no write
-- can fail once the checks above have passed (key types; Redis 7 refuses a
-- script for memory only at its first write).
for j = 1, #acks, 500 do
  redis.call('XACK', KEYS[1], group, unpack(acks, j, math.min(j + 499, #acks)))
end
return res
`)
