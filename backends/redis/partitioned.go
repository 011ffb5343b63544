package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// Partitioned is a NecroStack backend on P partitions of one logical
// stream, each a stream of its own in a hash slot of its own (see
// PartitionStream), so that on Redis Cluster the stream spreads over the
// nodes. It is the shared mode: every worker reads every partition through
// the consumer group, so events are handled in no particular order, as on
// one stream with several workers. It is safe for concurrent use.
//
// The rules it keeps:
//   - An event with a key goes to the key's partition (PartitionOf); one
//     without, to the partitions in turn.
//   - An event an organ emits stays in its input's partition, unless it
//     carries a key of another: the commit is one single-slot script in
//     the input's partition, atomic as on one stream, and writes an event
//     of another partition to the input partition's outbox, which a relay
//     moves to its partition once (relay.go).
//   - On one server, one XREADGROUP reads every partition, and one script
//     call commits a batch of every partition (merged.go): partitions
//     cost next to nothing there.
//   - On a cluster, one reader per partition pulls in the background, so
//     no partition waits behind another: each holds at most one delivery
//     beyond what its partition's buffer holds, and Close hands that back. A partition
//     that cannot be read (its node down, a failover under way) has its
//     reader back off and log, while the others go on; only a fatal error
//     reaches the Spine, which then stops.
//   - A delivery's Receipt names its partition ("<i>/<entry id>"); Ack,
//     Commit and Release go to that partition.
type Partitioned struct {
	parts  []*Backend
	rdb    goredis.UniversalClient
	ownRDB bool
	next   atomic.Uint32 // the partition of the next keyless event
	relay  *relay
	merged *mergedReads // nil on a cluster: a reader per partition

	startOnce sync.Once
	ctx       context.Context
	stop      context.CancelFunc
	readers   sync.WaitGroup
	pulled    chan pulled
	// released holds the deliveries Release handed back, for the next
	// Pulls before anything else (they stay pending for this consumer
	// meanwhile, as with Backend.Release); wake tells a waiting Pull.
	mu        sync.Mutex
	released  []core.Delivery
	nReleased atomic.Int32 // len(released), for a Pull to see none without the lock
	wake      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// pulled is what a partition's reader hands to Pull.
type pulled struct {
	d   core.Delivery
	err error
}

// NewPartitioned returns a backend over p partitions of cfg.Stream (1 ≤ p ≤
// MaxPartitions; p = 1 is the stream itself, as New's), in ModeGroup, with
// every other setting of cfg for each partition. Each partition is a
// Backend (New), sharing one client: cfg.Client, or one made from cfg.URL
// and closed by Close. cfg.Stream must hold no hash tag (each partition
// has its own) and cfg.DeadLetterStream must be unset (each partition's
// is its stream+":dlq").
func NewPartitioned(ctx context.Context, cfg Config, p int) (*Partitioned, error) {
	switch {
	case p < 1 || p > MaxPartitions:
		return nil, fmt.Errorf("redis config: partitions: %d: want 1 to %d", p, MaxPartitions)
	case cfg.Mode == ModeStream:
		return nil, errors.New("redis config: partitions read through the consumer group: ModeStream is not for them")
	case cfg.DeadLetterStream != "":
		return nil, errors.New("redis config: DeadLetterStream with partitions: each partition's dead letters are in its stream+\":dlq\"; leave it unset")
	}
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if cfg.Consumer == "" {
		cfg.Consumer = defaultConsumer() // one name on every partition: one worker
	}
	if p > 1 && strings.ContainsAny(cfg.Stream, "{}") {
		return nil, fmt.Errorf("redis config: Stream: %q holds a brace: with partitions each partition's stream has a hash tag of its own; drop the braces", cfg.Stream)
	}
	pb := &Partitioned{rdb: cfg.Client, pulled: make(chan pulled), wake: make(chan struct{}, 1)}
	if pb.rdb == nil {
		c, err := universalFromURL(cfg.URL)
		if err != nil {
			return nil, err
		}
		pb.rdb, pb.ownRDB = c, true
	}
	base := cfg.Stream
	cfg.Client = pb.rdb
	for i := range p {
		cfg.Stream = PartitionStream(base, i, p)
		b, err := New(ctx, cfg)
		if err != nil {
			pb.Close()
			return nil, fmt.Errorf("partition %d of %d (%s): %w", i, p, cfg.Stream, err)
		}
		b.commits.part, b.commits.parts = i, p
		pb.parts = append(pb.parts, b)
	}
	pb.relay = newRelay(pb.parts)
	pb.merged = newMergedReads(pb.rdb, pb.parts)
	for i, b := range pb.parts {
		b.outboxed = func() { pb.relay.kick(i) }
	}
	return pb, nil
}

// Partitions returns the Backend of each partition, in order: for their
// Stats, dead letters and redrive.
func (pb *Partitioned) Partitions() []*Backend { return pb.parts }

// Enqueue adds e to its key's partition, or a keyless e to the next one in
// turn. It is at-least-once, as Backend.Enqueue is.
func (pb *Partitioned) Enqueue(ctx context.Context, e core.Event) error {
	i := 0
	if k := e.Key(); k != "" {
		i = PartitionOf(k, len(pb.parts))
	} else if len(pb.parts) > 1 {
		i = int((pb.next.Add(1) - 1) % uint32(len(pb.parts)))
	}
	return pb.parts[i].Enqueue(ctx, e)
}

// Pull returns the next event of any partition, waiting at most timeout.
// The first Pull starts the partitions' readers.
func (pb *Partitioned) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	pb.startOnce.Do(pb.startReaders)
	if pb.ctx.Err() != nil {
		return core.Delivery{}, false, core.ErrClosed
	}
	if pb.merged != nil {
		return pb.pullMerged(ctx, timeout)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		if d, ok := pb.takeReleased(); ok {
			return d, true, nil
		}
		select {
		case p := <-pb.pulled:
			return p.d, p.err == nil, p.err
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

// takeReleased returns the oldest delivery Release handed back, if any.
func (pb *Partitioned) takeReleased() (core.Delivery, bool) {
	if pb.nReleased.Load() == 0 {
		return core.Delivery{}, false
	}
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if len(pb.released) == 0 {
		return core.Delivery{}, false
	}
	d := pb.released[0]
	pb.released = pb.released[1:]
	pb.nReleased.Store(int32(len(pb.released)))
	if len(pb.released) > 0 { // for another Pull waiting
		select {
		case pb.wake <- struct{}{}:
		default:
		}
	}
	return d, true
}

// startReaders starts one reader a partition, until Close.
func (pb *Partitioned) startReaders() {
	pb.ctx, pb.stop = context.WithCancel(context.Background())
	pb.relay.start(pb.ctx)
	if pb.merged != nil {
		return // reads start from Pull (merged.go)
	}
	for i, b := range pb.parts {
		pb.readers.Add(1)
		go pb.read(i, b)
	}
}

// read pulls partition i and hands each delivery, or error, to Pull; a
// delivery it holds when Close comes is released back to its partition.
func (pb *Partitioned) read(i int, b *Backend) {
	defer pb.readers.Done()
	prefix := strconv.Itoa(i) + "/"
	failures := 0
	for pb.ctx.Err() == nil {
		// Longer than a read may block: Backend.Pull does not start a read
		// with less than a millisecond left of its timeout.
		d, ok, err := b.Pull(pb.ctx, b.cfg.Block+b.cfg.Timeout)
		switch {
		case errors.Is(err, core.ErrClosed) || pb.ctx.Err() != nil:
			if ok {
				_ = b.Release(context.Background(), d)
			}
			return
		case err != nil && !errors.Is(err, core.ErrFatal):
			// A partition's outage is its own: this reader backs off and
			// tries again, and the others, and the Spine, go on.
			failures++
			level := slog.LevelDebug
			if failures == 1 {
				level = slog.LevelWarn
			}
			b.log.LogAttrs(pb.ctx, level, "redis: partition unreachable; its reader backs off", slog.Int(keyPartition, i),
				slog.String(keyStream, b.cfg.Stream), slog.Int(core.KeyAttempt, failures), slog.String(core.KeyError, err.Error()))
			select {
			case <-time.After(partitionRetry.Backoff(failures)):
			case <-pb.ctx.Done():
				return
			}
			continue
		case err != nil: // fatal: the Spine stops
			err = fmt.Errorf("partition %d: %w", i, err)
		case failures > 0:
			b.log.LogAttrs(pb.ctx, slog.LevelInfo, "redis: partition reachable again", slog.Int(keyPartition, i),
				slog.String(keyStream, b.cfg.Stream), slog.Int(core.KeyFailures, failures))
			failures = 0
		}
		if err == nil && !ok {
			continue
		}
		if ok {
			d.Receipt = prefix + d.Receipt
		}
		select {
		case pb.pulled <- pulled{d, err}:
		case <-pb.ctx.Done():
			if ok {
				d.Receipt = strings.TrimPrefix(d.Receipt, prefix)
				_ = b.Release(context.Background(), d)
			}
			return
		}
		if err != nil {
			return // fatal: reported once
		}
	}
}

// partitionRetry is the backoff of a partition's reader while its
// partition cannot be read.
var partitionRetry = core.RetryPolicy{InitialBackoff: 50 * time.Millisecond, MaxBackoff: 2 * time.Second}

// part returns d's partition, and d with the receipt that partition gave.
func (pb *Partitioned) part(d core.Delivery) (int, core.Delivery, error) {
	i, rest, err := pb.partOf(d.Receipt)
	if err != nil {
		return 0, d, err
	}
	d.Receipt = rest
	return i, d, nil
}

// partOf splits a receipt into its partition and the receipt in it.
func (pb *Partitioned) partOf(receipt string) (int, string, error) {
	s, rest, ok := strings.Cut(receipt, "/")
	i, err := strconv.Atoi(s)
	if !ok || err != nil || i < 0 || i >= len(pb.parts) {
		return 0, receipt, fmt.Errorf("redis: receipt %q names no partition of %d: %w", receipt, len(pb.parts), core.ErrDeliveryLost)
	}
	return i, rest, nil
}

// Ack acknowledges d in its partition.
func (pb *Partitioned) Ack(ctx context.Context, d core.Delivery) error {
	i, d, err := pb.part(d)
	if err != nil {
		return err
	}
	return pb.parts[i].Ack(ctx, d)
}

// Release hands d out again: the next Pull returns it, before anything
// else (a partition's reader may hold its next delivery already, so d is
// kept here rather than in its partition's buffer). Close hands it back to
// its partition.
func (pb *Partitioned) Release(_ context.Context, d core.Delivery) error {
	if _, _, err := pb.part(d); err != nil {
		return err
	}
	pb.startOnce.Do(pb.startReaders)
	pb.mu.Lock()
	if pb.ctx.Err() != nil { // under the lock: Close cancels, then empties released under it
		pb.mu.Unlock()
		return core.ErrClosed
	}
	pb.released = append([]core.Delivery{d}, pb.released...)
	pb.nReleased.Store(int32(len(pb.released)))
	pb.mu.Unlock()
	select {
	case pb.wake <- struct{}{}:
	default:
	}
	return nil
}

// Commit commits d's outcome atomically in d's partition, after checking
// that no emitted event belongs to another.
func (pb *Partitioned) Commit(ctx context.Context, d core.Delivery, out core.Outcome) error {
	i, d, err := pb.part(d)
	if err != nil {
		return err
	}
	return pb.parts[i].Commit(ctx, d, out)
}

// CommitBatch commits each partition's share of commits in one batch of
// that partition, the batches at once (in one script call on one server),
// and returns an error for each commit, or nil.
func (pb *Partitioned) CommitBatch(ctx context.Context, commits []core.Commit) []error {
	if pb.merged != nil {
		return pb.commitMerged(ctx, commits)
	}
	sc := commitScratches.Get().(*commitScratch)
	defer sc.release()
	sorted, ks, starts, errs := pb.byPartition(commits, sc)
	parts := sc.busy[:0] // those with commits
	for i := range pb.parts {
		if starts[i] < starts[i+1] {
			parts = append(parts, i)
		}
	}
	sc.busy = parts
	inParallel(len(parts), func(g int) {
		i := parts[g]
		lo, hi := starts[i], starts[i+1]
		for j, err := range pb.parts[i].CommitBatch(ctx, sorted[lo:hi]) {
			errs[ks[lo+j]] = err
		}
	})
	return orNil(errs)
}

// byPartition sorts commits by partition (a counting sort), each with the
// delivery as its partition gave it (commits stays the caller's):
// partition i's are sorted[starts[i]:starts[i+1]], and sorted[j] is
// commits[ks[j]]. A commit whose receipt names no partition has its error
// in errs instead. All but errs are sc's, until sc is released.
func (pb *Partitioned) byPartition(commits []core.Commit, sc *commitScratch) (sorted []core.Commit, ks, starts []int, errs []error) {
	errs = make([]error, len(commits))
	parts := sized(sc.parts, len(commits))
	receipts := sized(sc.receipts, len(commits)) // in the partition: a Delivery is too large to copy twice
	starts = sized(sc.starts, len(pb.parts)+1)
	clear(starts)
	for k, c := range commits {
		i, receipt, err := pb.partOf(c.Delivery.Receipt)
		if err != nil {
			errs[k], parts[k] = err, -1
			continue
		}
		parts[k], receipts[k] = i, receipt
		starts[i+1]++
	}
	for i := range pb.parts {
		starts[i+1] += starts[i]
	}
	next := append(sc.next[:0], starts[:len(pb.parts)]...)
	sorted = sized(sc.sorted, starts[len(pb.parts)])
	ks = sized(sc.ks, len(sorted))
	for k, i := range parts {
		if i >= 0 {
			sorted[next[i]] = commits[k]
			sorted[next[i]].Delivery.Receipt = receipts[k]
			ks[next[i]] = k
			next[i]++
		}
	}
	sc.parts, sc.receipts, sc.starts, sc.next, sc.sorted, sc.ks = parts, receipts, starts, next, sorted, ks
	return sorted, ks, starts, errs
}

// commitScratch holds what a Partitioned's CommitBatch works in, reused
// from batch to batch (commitScratches): at P = 16 a batch made a dozen
// slices of its size.
type commitScratch struct {
	parts     []int // each commit's partition (byPartition)
	busy      []int // the partitions with commits (CommitBatch)
	receipts  []string
	starts    []int
	next      []int
	sorted    []core.Commit
	ks        []int
	batchErrs []error
	staged    []stagedCommit
	index     []int
	gindex    []int
	groups    []commitGroup
	arenas    []*commitArena
	chunks    [][2]int
}

var commitScratches = sync.Pool{New: func() any { return new(commitScratch) }}

// release drops what sc refers to (deliveries, outcomes, errors) and
// returns it to the pool.
func (sc *commitScratch) release() {
	clear(sc.receipts)
	clear(sc.sorted)
	clear(sc.batchErrs)
	clear(sc.staged)
	clear(sc.groups)
	clear(sc.arenas)
	commitScratches.Put(sc)
}

// sized returns s with length n, reusing its array when it has room; what
// it holds is the caller's to overwrite.
func sized[T any](s []T, n int) []T { return slices.Grow(s[:0], n)[:n] }

// inParallel runs f(0) … f(n-1) at once and waits for them: the batches of
// different partitions, each a round trip of its own, overlap.
func inParallel(n int, f func(g int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() { f(g) })
	}
	wg.Wait()
}

// DeadLetter writes dl to the dead letters of its event's partition (that
// of its key; partition 0 for a keyless event).
func (pb *Partitioned) DeadLetter(ctx context.Context, dl core.DeadLetter) error {
	i := 0
	if k := dl.Event.Key(); k != "" {
		i = PartitionOf(k, len(pb.parts))
	}
	return pb.parts[i].DeadLetter(ctx, dl)
}

// Close stops the readers, hands back what they held, and closes every
// partition (and the client, when it made it). It is safe to call twice,
// and on a nil *Partitioned.
func (pb *Partitioned) Close() error {
	if pb == nil {
		return nil
	}
	pb.closeOnce.Do(func() {
		pb.startOnce.Do(func() { pb.ctx, pb.stop = context.WithCancel(context.Background()) })
		pb.stop()
		pb.closeMerged()
		pb.readers.Wait()
		pb.relay.wait()
		var errs []error
		pb.mu.Lock()
		for _, d := range pb.released {
			i, d, _ := pb.part(d)
			errs = append(errs, pb.parts[i].Release(context.Background(), d))
		}
		pb.released = nil
		pb.nReleased.Store(0)
		pb.mu.Unlock()
		for _, b := range pb.parts {
			errs = append(errs, b.Close())
		}
		if pb.ownRDB {
			errs = append(errs, pb.rdb.Close())
		}
		pb.closeErr = errors.Join(errs...)
	})
	return pb.closeErr
}

// Compile-time checks of the capabilities the Spine discovers.
var (
	_ core.Backend        = (*Partitioned)(nil)
	_ core.Committer      = (*Partitioned)(nil)
	_ core.BatchCommitter = (*Partitioned)(nil)
	_ core.Releaser       = (*Partitioned)(nil)
	_ core.DeadLetterer   = (*Partitioned)(nil)
)
