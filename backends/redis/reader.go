package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// reader reads entries for this consumer and keeps them in a buffer until
// Pull hands them out. The rules it keeps:
//   - The buffer hands out in stream order, except released deliveries,
//     which go to its front.
//   - Once closed, the buffer takes nothing more: what a read brings in
//     after Close is put back in the stream by the Backend, not left
//     pending for a consumer that is gone.
//   - In ModeGroup a read asks for about what the consumer hands out in
//     holdTarget (nextCount), so a slow consumer does not sit on entries
//     that idle ones could take.
//   - In ModeGroup, while the stream has a backlog (the last read fetched
//     all it asked for), the next read starts in the background once the
//     buffer is down to half of a read (readAhead), so that handlers do not
//     wait for its round trip. At most one read-ahead is under way; a Pull
//     that finds the buffer empty waits for it. None starts after one
//     failed (until a Pull's own read succeeds: the error reaches the
//     Spine once) nor while recovery or a reclaim round is due (the buffer
//     must empty for Pull to run them), nor once the reader is closed.
//   - In ModeStream reads share one position in the stream (streamLast):
//     one read at a time (sem).
//   - The group is created from the start of the stream, so nothing
//     enqueued before the first worker is missed. A group lost later
//     (NOGROUP: deleted, or Redis restarted without persistence) is
//     re-created after the last entry this consumer knew delivered (seen),
//     or before the oldest entry it holds, never at the start of a stream
//     that holds handled entries; the Backend logs what happened.
type reader struct {
	rdb goredis.UniversalClient
	cfg *Config
	log *slog.Logger
	sem chan struct{} // ModeStream: the one read under way
	// blocked counts the reads under way, for tests that need a Pull
	// waiting in Redis.
	blocked atomic.Int32

	mu         sync.Mutex
	buf        []core.Delivery // buf[head:] not yet handed out
	head       int             // so that the array is reused from one read to the next
	closed     bool
	streamLast string // ModeStream: id of the last entry read, "$" until known
	groupReady bool
	// seen is the last entry the group is known to have delivered: read by
	// this consumer, or the group's last-delivered id when last asked.
	seen streamID
	// ModeGroup reads ask for count entries (see nextCount). lastRead is
	// when the last read that fetched something returned, and lastN how
	// many it fetched.
	count    int
	lastRead time.Time
	lastN    int
	lastFull bool // the last read fetched all it asked for: a backlog
	// ahead is closed when the read-ahead under way is done (nil: none);
	// aheadErr is the error of the last one, until a Pull takes it.
	ahead    chan struct{}
	aheadErr error
}

func newReader(rdb goredis.UniversalClient, cfg *Config, log *slog.Logger) *reader {
	r := &reader{rdb: rdb, cfg: cfg, log: log, sem: make(chan struct{}, 1)}
	if cfg.Mode == ModeStream {
		r.streamLast = "$"
	}
	return r
}

// pop hands out the next buffered delivery. ahead reports that a
// read-ahead is due, and is then under way: the caller starts it and calls
// aheadDone when it is done. mayAhead (nil: never) is asked only when one
// would be due otherwise.
func (r *reader) pop(mayAhead func() bool) (d core.Delivery, ok, ahead bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.head == len(r.buf) {
		return core.Delivery{}, false, false
	}
	d = r.buf[r.head]
	r.buf[r.head] = core.Delivery{}
	r.head++
	if r.head == len(r.buf) {
		r.buf, r.head = r.buf[:0], 0
	}
	left := len(r.buf) - r.head
	if mayAhead != nil && r.lastFull && r.ahead == nil && !r.closed && r.count >= aheadMinCount && left > 0 && left <= r.count/2 && r.cfg.Mode == ModeGroup && mayAhead() {
		r.ahead, ahead = make(chan struct{}), true
	}
	return d, true, ahead
}

// aheadDone records that the read-ahead under way returned err: the next
// Pull that finds the buffer empty returns it, and no read-ahead starts
// until a read has succeeded.
func (r *reader) aheadDone(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.ahead)
	r.ahead = nil
	r.aheadErr = err
	if err != nil {
		r.lastFull = false
	}
}

// aheadState returns what a Pull that found the buffer empty must know: the
// read-ahead under way (nil: none) and, taking it, the error of the last
// one.
func (r *reader) aheadState() (underWay <-chan struct{}, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err, r.aheadErr = r.aheadErr, nil
	if r.ahead == nil {
		return nil, err
	}
	return r.ahead, err
}

// push buffers d, and reports false once the reader is closed.
func (r *reader) push(d core.Delivery) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.buf = append(r.buf, d)
	return true
}

// pushFront buffers d to be handed out before anything else, and reports
// false once the reader is closed.
func (r *reader) pushFront(d core.Delivery) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	if r.head > 0 {
		r.head--
		r.buf[r.head] = d
	} else {
		r.buf = append([]core.Delivery{d}, r.buf...)
	}
	return true
}

// close stops the buffer and returns what it had not handed out, and the
// read-ahead under way (nil: none), which is done when the channel is
// closed. No read-ahead starts after it.
func (r *reader) close() (left []core.Delivery, ahead <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	left = r.buf[r.head:]
	r.buf, r.head = nil, 0
	if r.ahead != nil {
		ahead = r.ahead
	}
	return left, ahead
}

// firstCount is what a consumer's first read in a group fetches, and
// holdTarget how long what one read fetched may wait in its buffer before it
// is all handed out: see nextCount.
const (
	firstCount = 8
	holdTarget = 20 * time.Millisecond
)

// aheadMinCount is the smallest read count that reads ahead: below it the
// handlers are slow enough that a round trip does not keep them waiting,
// and half a read is too few hand-outs to measure their pace by.
const aheadMinCount = 8

// nextCount returns how many entries the next read in the group asks for.
// Entries a consumer has read wait for it alone, however busy it is, while
// other consumers may be idle; so it reads about what it hands out within
// holdTarget. The count doubles, up to Config.Batch, after a full read that
// was all handed out sooner; after a read that took longer, it drops to
// what was handed out within holdTarget (at most half, at least 1). Quick
// handlers get large reads (fewer round trips, larger commit batches); slow
// ones get one entry at a time, and the rest of the stream goes to
// whichever consumer is free. A read-ahead asks while part of the last read
// is still buffered: it judges by how long handing all of it out would take
// at the pace so far.
func (r *reader) nextCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.count == 0 {
		r.count = min(firstCount, r.cfg.Batch)
		return r.count
	}
	if r.lastRead.IsZero() {
		return r.count // nothing learnt since the last read asked
	}
	held := time.Since(r.lastRead)
	if left := len(r.buf) - r.head; left > 0 {
		// A read-ahead, asked before the last read is all handed out: how
		// long handing it all out would take at the rate so far.
		if left >= r.lastN {
			return r.count // none of it handed out yet: nothing learnt
		}
		held = held * time.Duration(r.lastN) / time.Duration(r.lastN-left)
	}
	r.lastRead = time.Time{} // one adjustment per read, however many goroutines pull
	switch {
	case held > holdTarget:
		r.count = max(min(r.count/2, int(int64(r.lastN)*int64(holdTarget)/int64(held))), 1)
	case r.lastN >= r.count:
		r.count = min(r.count*2, r.cfg.Batch)
	}
	return r.count
}

// noteRead records that n entries (if any) of the asked were just
// buffered, for nextCount and the read-ahead. Reads and claims call it once
// their entries are in the buffer: a Pull that finds it empty before then
// has not handed them out.
func (r *reader) noteRead(n, asked int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastFull = n > 0 && n >= asked
	if n == 0 {
		return
	}
	r.lastRead, r.lastN = time.Now(), n
}

// readGroup reads up to count new entries for this consumer (XREADGROUP),
// blocking at most block; a negative block does not block. A lost group is
// an error matching isNoGroup.
func (r *reader) readGroup(ctx context.Context, block time.Duration, count int) ([]goredis.XMessage, error) {
	if block >= 0 {
		r.blocked.Add(1)
		defer r.blocked.Add(-1)
	}
	streams, err := r.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group:    r.cfg.Group,
		Consumer: r.cfg.Consumer,
		Streams:  []string{r.cfg.Stream, ">"},
		Count:    int64(count),
		Block:    block,
	}).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("redis: read group %q: %w", r.cfg.Group, err)
	}
	msgs := messages(streams)
	if len(msgs) > 0 {
		if id, err := parseStreamID(msgs[len(msgs)-1].ID); err == nil {
			r.noteSeen(id)
		}
	}
	return msgs, nil
}

// noteSeen records that the group has delivered id.
func (r *reader) noteSeen(id streamID) {
	r.mu.Lock()
	if r.seen.less(id) {
		r.seen = id
	}
	r.mu.Unlock()
}

// refreshSeen asks Redis for the group's last-delivered id, so that seen is
// close to the truth even when other consumers do the reading.
func (r *reader) refreshSeen(ctx context.Context) error {
	groups, err := r.rdb.XInfoGroups(ctx, r.cfg.Stream).Result()
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Name == r.cfg.Group {
			if id, err := parseStreamID(g.LastDeliveredID); err == nil {
				r.noteSeen(id)
			}
		}
	}
	return nil
}

// readStream reads the entries after the last one read (XREAD), blocking at
// most block. It moves the position past what it returns.
func (r *reader) readStream(ctx context.Context, block time.Duration) ([]goredis.XMessage, error) {
	select {
	case r.sem <- struct{}{}:
		defer func() { <-r.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(block):
		return nil, nil // another Pull is reading; this one times out instead
	}
	last := r.position()
	if last == "$" {
		if err := r.resolveStreamStart(ctx); err != nil {
			return nil, fmt.Errorf("redis: read stream %q: %w", r.cfg.Stream, err)
		}
		last = r.position()
	}
	r.blocked.Add(1)
	defer r.blocked.Add(-1)
	streams, err := r.rdb.XRead(ctx, &goredis.XReadArgs{
		Streams: []string{r.cfg.Stream, last},
		Count:   int64(r.cfg.Batch),
		Block:   block,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redis: read stream %q: %w", r.cfg.Stream, err)
	}
	msgs := messages(streams)
	if len(msgs) > 0 {
		r.mu.Lock()
		r.streamLast = msgs[len(msgs)-1].ID
		r.mu.Unlock()
	}
	return msgs, nil
}

func messages(streams []goredis.XStream) []goredis.XMessage {
	if len(streams) == 1 {
		return streams[0].Messages
	}
	var msgs []goredis.XMessage
	for _, s := range streams {
		msgs = append(msgs, s.Messages...)
	}
	return msgs
}

func (r *reader) position() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streamLast
}

// resolveStreamStart turns "$" into the id of the stream's last entry, so
// that ModeStream reads everything enqueued after New.
func (r *reader) resolveStreamStart(ctx context.Context) error {
	msgs, err := r.rdb.XRevRangeN(ctx, r.cfg.Stream, "+", "-", 1).Result()
	if err != nil {
		return err
	}
	last := "0-0"
	if len(msgs) == 1 {
		last = msgs[0].ID
	}
	r.mu.Lock()
	if r.streamLast == "$" {
		r.streamLast = last
	}
	r.mu.Unlock()
	return nil
}

// ensureGroup creates the consumer group, and the stream with it, at start
// ("0" for the start of the stream). It reports whether this call created
// it: an existing group (BUSYGROUP) is fine.
func (r *reader) ensureGroup(ctx context.Context, start string) (created bool, err error) {
	err = r.rdb.XGroupCreateMkStream(ctx, r.cfg.Stream, r.cfg.Group, start).Err()
	if err != nil && !goredis.HasErrorPrefix(err, "BUSYGROUP") {
		return false, fmt.Errorf("redis: create group %q on %q: %w", r.cfg.Group, r.cfg.Stream, err)
	}
	r.mu.Lock()
	r.groupReady = true
	r.mu.Unlock()
	return err == nil, nil
}

// restartPoint returns where to re-create a lost group: after the last
// entry the group is known to have delivered, or before oldest (the oldest
// entry this consumer holds, when it holds any) if that comes first, so
// that what it holds is delivered again. It also says whether the group
// was ready before: if not, this is the group's first creation.
func (r *reader) restartPoint(oldest streamID, holds bool) (start streamID, was bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	start = r.seen
	if holds && !start.less(oldest) {
		start = oldest.prev()
	}
	return start, r.groupReady
}

func isNoGroup(err error) bool {
	return err != nil && goredis.HasErrorPrefix(err, "NOGROUP")
}

// isNoSuchKey reports whether err is Redis's answer about a key that does
// not exist ("ERR no such key", to XINFO and XGROUP on a missing stream).
// go-redis compares the message without its "ERR ", so neither does this.
func isNoSuchKey(err error) bool {
	return err != nil && goredis.HasErrorPrefix(err, "no such key")
}
