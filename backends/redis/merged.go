package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// mergedReads reads every partition of a Partitioned in one XREADGROUP,
// and is what makes partitions nearly free on one server: a read per
// partition would cost P round trips and P blocked clients for the events
// one read fetches. It is used only on one server (or a sentinel-managed
// one): a cluster refuses a command whose keys lie in different slots,
// and there each partition has a reader of its own (Partitioned.read).
// The rules it keeps:
//   - One read at a time, for the Pulls to wait on. A Pull hands out what
//     the partitions buffered, from one partition until its buffer is
//     empty and then the next, and runs their due chores (take-back,
//     reclaim) as each partition's own Pull would.
//   - A Pull that finds every partition's buffer empty and no read under
//     way makes the blocking read itself (Config.Block, and no longer
//     than its timeout), as a Backend's Pull does: a goroutine started for
//     it and waited on cost a hand-off between goroutines each time, a
//     tenth of the worker's CPU on a quick chain. A Release meanwhile
//     waits for it, as with a Backend. While the last read fetched all it
//     asked of some partition (a backlog), the next starts in the
//     background, without blocking, once half of what it fetched is handed
//     out, unless a partition has a chore due (its buffer must empty for
//     the chore to run).
//   - A read asks each partition for the largest count any partition's
//     reader would (nextCount), holds every partition's handing lock, as
//     each partition's own read does, and buffers each stream's entries in
//     its partition's buffer.
//   - A lost group (NOGROUP) sends every partition to a non-blocking read
//     of its own, which re-creates it; any other error reaches the next
//     Pull that finds nothing to hand out.
//   - Close waits for the read under way; what it brings after Close is
//     handed back by its partition.
type mergedReads struct {
	streams []string       // every partition's stream, then as many ">"
	index   map[string]int // a stream's partition
	prefix  []string       // partition i's receipt prefix, "<i>/"

	// at, since and aheadAt are read by every Pull that hands something
	// out, without the lock, which it takes only when a read-ahead may be
	// due (it took it twice an event before).
	at      atomic.Int32 // the partition Pulls hand out from first
	since   atomic.Int32 // deliveries handed out since the last read that fetched any
	aheadAt atomic.Int32 // 2*since from which a read-ahead is due (lastN, or never when lastFull is false or lastN too small)

	mu       sync.Mutex
	underWay chan struct{} // closed when the read under way is done; nil: none
	err      error         // of the last read, for the next Pull that finds nothing
	closed   bool
	lastN    int  // what the last read fetched, over every partition
	lastFull bool // it fetched all it asked of some partition
}

// newMergedReads returns the merged reads of parts, or nil when rdb is not
// a single server's client.
func newMergedReads(rdb goredis.UniversalClient, parts []*Backend) *mergedReads {
	if _, ok := rdb.(*goredis.Client); !ok {
		return nil
	}
	m := &mergedReads{index: make(map[string]int, len(parts))}
	m.aheadAt.Store(math.MaxInt32)
	for i, b := range parts {
		m.streams = append(m.streams, b.cfg.Stream)
		m.index[b.cfg.Stream] = i
		m.prefix = append(m.prefix, fmt.Sprint(i, "/"))
	}
	for range parts {
		m.streams = append(m.streams, ">")
	}
	return m
}

// pullMerged is Pull with merged reads.
func (pb *Partitioned) pullMerged(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	m := pb.merged
	var deadline time.Time // read only once nothing is buffered: most Pulls find something
	var t *time.Timer      // only once there is another's read to wait for
	for {
		if d, ok := pb.takeReleased(); ok {
			return d, true, nil
		}
		if d, ok, err := pb.popBuffered(ctx); ok || err != nil {
			return d, ok, err
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(timeout)
		}
		m.mu.Lock()
		if err := m.err; err != nil {
			m.err = nil
			m.mu.Unlock()
			return core.Delivery{}, false, err
		}
		w := m.underWay
		if w == nil {
			remaining := time.Until(deadline)
			if remaining < time.Millisecond {
				m.mu.Unlock()
				return core.Delivery{}, false, nil
			}
			w = pb.beginRead()
			m.mu.Unlock()
			if w == nil {
				return core.Delivery{}, false, core.ErrClosed
			}
			if err := pb.readHere(ctx, w, min(remaining, pb.parts[0].cfg.Block)); err != nil {
				return core.Delivery{}, false, err
			}
			continue
		}
		m.mu.Unlock()
		if t == nil {
			t = time.NewTimer(time.Until(deadline))
			defer t.Stop()
		}
		select {
		case <-w:
		case <-pb.wake:
		case <-ctx.Done():
			return core.Delivery{}, false, ctx.Err()
		case <-t.C:
			return core.Delivery{}, false, nil
		case <-pb.ctx.Done():
			return core.Delivery{}, false, core.ErrClosed
		}
	}
}

// popBuffered hands out what a partition buffered (or a due chore of one
// brings in), starting at the partition the last one came from, and
// starts a read-ahead when one is due.
func (pb *Partitioned) popBuffered(ctx context.Context) (core.Delivery, bool, error) {
	m := pb.merged
	at, n := int(m.at.Load()), len(pb.parts)
	for k := range n {
		i := at + k
		if i >= n {
			i -= n
		}
		d, ok, err := pb.parts[i].pull(ctx, 0, false)
		switch {
		case err != nil && (errors.Is(err, core.ErrClosed) || ctx.Err() != nil):
			return core.Delivery{}, false, err
		case err != nil:
			return core.Delivery{}, false, fmt.Errorf("partition %d: %w", i, err)
		case !ok:
			continue
		}
		d.Receipt = m.prefix[i] + d.Receipt
		if i != at {
			m.at.Store(int32(i))
		}
		if since := m.since.Add(1); 2*since >= m.aheadAt.Load() {
			m.mu.Lock()
			if m.underWay == nil && !m.closed && m.lastFull && m.lastN >= aheadMinCount && 2*int(m.since.Load()) >= m.lastN && pb.noChoreDue() {
				pb.startReadAhead()
			}
			m.mu.Unlock()
		}
		return d, true, nil
	}
	return core.Delivery{}, false, nil
}

// noChoreDue reports whether no partition has a chore due.
func (pb *Partitioned) noChoreDue() bool {
	for _, b := range pb.parts {
		if !b.own.noChoreDue() {
			return false
		}
	}
	return true
}

// startReadAhead starts a read of every partition in the background,
// without blocking, unless Close has begun. It is called with m.mu held.
func (pb *Partitioned) startReadAhead() {
	w := pb.beginRead()
	if w == nil {
		return
	}
	go func() {
		defer pb.readers.Done()
		n, full, err := pb.readAll(pb.ctx, -1)
		pb.endRead(w, n, full, err)
	}()
}

// beginRead marks a read as under way and returns the channel that endRead
// closes, or nil after Close. It is called with m.mu held; the caller
// makes the read, then calls pb.readers.Done.
func (pb *Partitioned) beginRead() chan struct{} {
	m := pb.merged
	if m.closed {
		return nil
	}
	w := make(chan struct{})
	m.underWay = w
	pb.readers.Add(1) // before Close waits: it sets closed under m.mu first
	return w
}

// endRead records the outcome of the read under way (w): what it fetched,
// for reading ahead, and its error for the next Pull that finds nothing.
func (pb *Partitioned) endRead(w chan struct{}, n int, full bool, err error) {
	m := pb.merged
	m.mu.Lock()
	defer m.mu.Unlock()
	m.underWay = nil
	m.lastFull = err == nil && full
	if err == nil && n > 0 {
		m.lastN = n
		m.since.Store(0)
	}
	if m.lastFull && m.lastN >= aheadMinCount {
		m.aheadAt.Store(int32(m.lastN))
	} else {
		m.aheadAt.Store(math.MaxInt32)
	}
	if err != nil && pb.ctx.Err() == nil {
		m.err = err
	}
	close(w)
}

// readHere makes the blocking read under way (w) in the calling Pull,
// within its ctx, and ended by Close too. It returns ctx's error when ctx
// ended it (not kept for the next Pull: it is this one's).
func (pb *Partitioned) readHere(ctx context.Context, w chan struct{}, block time.Duration) error {
	defer pb.readers.Done()
	rctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(pb.ctx, cancel)
	n, full, err := pb.readAll(rctx, block)
	stop()
	cancel()
	if ctx.Err() != nil {
		pb.endRead(w, n, full, nil)
		return ctx.Err()
	}
	pb.endRead(w, n, full, err)
	return nil
}

// readAll reads every partition in one XREADGROUP, blocking at most block
// (a negative block does not block), and buffers what each fetched in its
// partition. It returns how many entries it fetched and whether it fetched
// all it asked of some partition.
func (pb *Partitioned) readAll(ctx context.Context, block time.Duration) (n int, full bool, err error) {
	m, first := pb.merged, pb.parts[0]
	ctx, cancel := bounded(ctx, max(block, 0)+first.cfg.Timeout)
	defer cancel()
	count := 0
	for _, b := range pb.parts {
		count = max(count, b.reader.nextCount())
	}
	lost := func() bool {
		for _, b := range pb.parts {
			b.own.handing.RLock()
		}
		defer func() {
			for _, b := range pb.parts {
				b.own.handing.RUnlock()
			}
		}()
		if block >= 0 {
			first.reader.blocked.Add(1)
			defer first.reader.blocked.Add(-1)
		}
		streams, rerr := pb.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: first.cfg.Group, Consumer: first.cfg.Consumer, Streams: m.streams, Count: int64(count), Block: block,
		}).Result()
		switch {
		case errors.Is(rerr, goredis.Nil):
			streams = nil
		case isNoGroup(rerr):
			return true
		case rerr != nil:
			for _, b := range pb.parts {
				b.own.replyLost()
			}
			err = fmt.Errorf("redis: read group %q of %d partitions: %w", first.cfg.Group, len(pb.parts), rerr)
			return false
		}
		got := make([][]goredis.XMessage, len(pb.parts))
		for _, s := range streams {
			if i, ok := m.index[s.Stream]; ok {
				got[i] = s.Messages
			}
		}
		for i, b := range pb.parts {
			msgs := got[i]
			if len(msgs) > 0 {
				if id, perr := parseStreamID(msgs[len(msgs)-1].ID); perr == nil {
					b.reader.noteSeen(id)
				}
			}
			b.absorb(ctx, msgs, count)
			n += len(msgs)
			full = full || len(msgs) >= count
		}
		return false
	}()
	if lost { // each partition reads once on its own, which re-creates a lost group
		for _, b := range pb.parts {
			if err = b.read(ctx, -1); err != nil {
				break
			}
		}
	}
	if err != nil {
		if pb.ctx.Err() != nil {
			return n, false, core.ErrClosed
		}
		reloadOnNetError(pb.rdb, err)
		return n, false, classify(err)
	}
	return n, full, nil
}

// closeMerged stops reads from starting, before Close waits for the one
// under way.
func (pb *Partitioned) closeMerged() {
	if m := pb.merged; m != nil {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
	}
}

// commitMerged is CommitBatch on one server: the batches of every
// partition in one script call (a group of five keys and its arguments
// each, see scripts/commit.lua), or one per few MiB. Each commit stays
// atomic on its own, as on one stream; the call checks every group's keys
// before it writes anything.
func (pb *Partitioned) commitMerged(ctx context.Context, commits []core.Commit) []error {
	sc := commitScratches.Get().(*commitScratch)
	sorted, ks, starts, errs := pb.byPartition(commits, sc)
	groups, arenas := sc.groups[:0], sc.arenas[:0]
	// The partitions' slices are cut from one array each, not made per
	// partition: with P = 16 that was five allocations a partition a batch.
	batchErrsAll := sized(sc.batchErrs, len(sorted))
	clear(batchErrsAll) // stageInto sets only the errors
	stagedAll := sized(sc.staged, len(sorted))
	indexAll, gindexAll := sized(sc.index, len(sorted)), sized(sc.gindex, len(sorted))
	chunks := sc.chunks[:0]
	defer func() { // go-redis is done with the arguments when the calls return
		for _, a := range arenas {
			a.release()
		}
		sc.groups, sc.arenas, sc.batchErrs, sc.staged, sc.index, sc.gindex, sc.chunks = groups, arenas, batchErrsAll, stagedAll, indexAll, gindexAll, chunks
		sc.release()
	}()
	for i, b := range pb.parts {
		lo, hi := starts[i], starts[i+1]
		if lo == hi {
			continue
		}
		if b.isClosed() {
			for _, k := range ks[lo:hi] {
				errs[k] = core.ErrClosed
			}
			continue
		}
		a := commitArenas.Get().(*commitArena)
		arenas = append(arenas, a)
		batchErrs := batchErrsAll[lo:hi:hi]
		staged, index := b.stageInto(stagedAll[lo:lo:hi], indexAll[lo:lo:hi], sorted[lo:hi], a, batchErrs)
		for j, err := range batchErrs {
			if err != nil {
				errs[ks[lo+j]] = err
			}
		}
		gindex := gindexAll[lo:hi:hi]
		chunks = callChunks(chunks[:0], staged)
		for _, c := range chunks {
			g := commitGroup{b: b, staged: staged[c[0]:c[1]], index: gindex[c[0]:c[1]:c[1]]}
			for j := range g.index {
				g.index[j] = ks[lo+index[c[0]+j]]
				g.size += g.staged[j].size()
			}
			groups = append(groups, g)
		}
	}
	for _, c := range chunkBySize(nil, len(groups), func(g int) int { return groups[g].size }) {
		pb.commitGroups(ctx, groups[c[0]:c[1]], errs)
	}
	return orNil(errs)
}

// commitGroup is the commits of one partition in a merged script call,
// and the index of each in the batch.
type commitGroup struct {
	b      *Backend
	staged []stagedCommit
	index  []int
	size   int
}

// commitGroups runs groups in one script call, within Timeout, and sets
// each commit's error in errs.
func (pb *Partitioned) commitGroups(ctx context.Context, groups []commitGroup, errs []error) {
	first := groups[0].b
	ctx, cancel := bounded(ctx, first.cfg.Timeout)
	defer cancel()
	n := 0
	for _, g := range groups {
		n += len(g.staged)
	}
	// One token for the call, over every group's receipts, in the first
	// group's record: one record read and written a call, not one a
	// partition.
	tok := newTokenHash()
	for _, g := range groups {
		tok.add(g.staged)
	}
	keys := make([]string, 0, 5*len(groups))
	args := slices.Grow(callArgs(len(groups), tok.String()), n*5+13*len(groups))
	for _, g := range groups {
		keys = append(keys, g.b.commits.keys...)
		args = g.b.commits.appendArgs(args, g.staged, "", false)
	}
	var res []int64
	err := replicated(ctx, pb.rdb, &first.cfg, first.cfg.Stream, func(rdb goredis.Cmdable) (err error) {
		res, err = commitScript.Run(ctx, rdb, keys, args...).Int64Slice()
		return err
	})
	reloadOnNetError(pb.rdb, err)
	if err == nil && len(res) != n {
		err = fmt.Errorf("commit script answered %d results for %d commits of %d partitions", len(res), n, len(groups))
	}
	for _, g := range groups {
		var part []int64
		if err == nil {
			part, res = res[:len(g.staged)], res[len(g.staged):]
		}
		callErrs, earlier, gerr := g.b.commits.results(g.staged, part, err)
		g.b.settle(ctx, g.staged, callErrs, earlier, gerr)
		for j, e := range callErrs {
			errs[g.index[j]] = e
		}
	}
}

// orNil returns errs, or nil when it holds no error.
func orNil(errs []error) []error {
	if slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
		return errs
	}
	return nil
}
