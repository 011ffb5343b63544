package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// DefaultLeaseTTL is how long a partition's lease lasts in ordered mode
// unless renewed (OrderedOptions.LeaseTTL).
const DefaultLeaseTTL = 10 * time.Second

// OrderedOptions are the settings of ordered mode beyond Config.
type OrderedOptions struct {
	// LeaseTTL is how long a partition's lease, and a worker's heartbeat,
	// last unless renewed; they are renewed every LeaseTTL/3. A worker that
	// dies has its partitions taken over within about LeaseTTL. Default
	// DefaultLeaseTTL; it must exceed Config.Timeout.
	LeaseTTL time.Duration
}

// Ordered is a NecroStack backend on P partitions of one logical stream in
// ordered mode: each partition has exactly one owner among the workers at a
// time, and the events of one key are handled strictly in the order they
// were enqueued (emitted events after their input), while events of
// different keys are handled concurrently. It is safe for concurrent use.
//
// The rules it keeps, beyond the Partitioned ones on routing, emits and
// the outbox:
//   - Ownership: a lease per partition with a fencing token that every
//     read and commit script checks (owner.go); a worker paused past its
//     lease commits nothing when it comes back.
//   - Membership: heartbeats and rendezvous hashing share the partitions
//     out; a joining or leaving worker moves only its share, handing over
//     cooperatively (membership.go).
//   - Lanes: a key's next event is handed out only once the one before is
//     settled, so Spine Concurrency > 1 keeps per-key order; a retrying
//     event holds back its own key only (lanes.go).
//   - A delivery's Receipt is "<partition>/<token>/<entry id>".
type Ordered struct {
	cfg    Config // defaults applied; Stream is the logical stream
	opts   OrderedOptions
	base   string
	me     string
	parts  []*Backend
	rdb    goredis.UniversalClient
	ownRDB bool
	log    *slog.Logger
	shared *Partitioned // its partitions, for what both modes do alike (Enqueue, DeadLetter)
	lanes  *lanes
	relay  *relay

	startOnce sync.Once
	ctx       context.Context
	stop      context.CancelFunc
	loops     sync.WaitGroup // the membership loop and the partitions' readers
	fatal     atomic.Pointer[error]

	mu      sync.Mutex
	members []string
	terms   []*term // the partitions this worker owns (nil: not)

	closeOnce sync.Once
	closeErr  error
}

// term is this worker's ownership of a partition under a token.
type term struct {
	token   int64
	fence   string
	renewed time.Time // the last renewal: only the membership loop uses it
	leaving bool      // being handed over (under Ordered.mu)
	cancel  context.CancelFunc
	done    chan struct{} // closed when its reader has stopped
}

// NewOrdered returns a backend over p partitions of cfg.Stream in ordered
// mode. cfg is as for NewPartitioned (ModeGroup, no hash tag in Stream, no
// DeadLetterStream); cfg.Consumer names this worker among the others
// (default: unique per run). Membership starts with the first Pull; a
// producer that only enqueues takes no partition.
func NewOrdered(ctx context.Context, cfg Config, p int, opts OrderedOptions) (*Ordered, error) {
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if timeout := cmp.Or(cfg.Timeout, DefaultTimeout); opts.LeaseTTL <= timeout {
		return nil, fmt.Errorf("redis config: LeaseTTL: %v is not above Timeout (%v): a lease must outlast the command that renews it", opts.LeaseTTL, timeout)
	}
	pb, err := NewPartitioned(ctx, cfg, p)
	if err != nil {
		return nil, err
	}
	c := pb.parts[0].cfg
	c.Stream = cfg.Stream
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	o := &Ordered{cfg: c, opts: opts, base: c.Stream, me: c.Consumer, parts: pb.parts, rdb: pb.rdb, ownRDB: pb.ownRDB,
		log: c.Logger, shared: pb, lanes: newLanes(p), relay: pb.relay, terms: make([]*term, p)}
	return o, nil
}

// Partitions returns the Backend of each partition, in order: for their
// Stats, dead letters and redrive.
func (o *Ordered) Partitions() []*Backend { return o.parts }

// Owned returns the partitions this worker owns now, in order.
func (o *Ordered) Owned() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []int
	for i, t := range o.terms {
		if t != nil && !t.leaving {
			out = append(out, i)
		}
	}
	return out
}

// Enqueue adds e to its key's partition, or a keyless e to the next one in
// turn. It is at-least-once, as Backend.Enqueue is.
func (o *Ordered) Enqueue(ctx context.Context, e core.Event) error { return o.shared.Enqueue(ctx, e) }

// begin starts membership, once.
func (o *Ordered) begin() {
	o.startOnce.Do(func() {
		o.ctx, o.stop = context.WithCancel(context.Background())
		o.relay.start(o.ctx)
		o.loops.Add(1)
		go o.balance(o.ctx)
	})
}

// Pull returns the next event whose key has nothing before it in flight,
// from any partition this worker owns, waiting at most timeout. The first
// Pull starts membership.
func (o *Ordered) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	o.begin()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		if o.ctx.Err() != nil {
			return core.Delivery{}, false, core.ErrClosed
		}
		if err := o.fatal.Load(); err != nil {
			return core.Delivery{}, false, *err
		}
		if it, ok := o.lanes.take(); ok {
			it.d.Receipt = strconv.Itoa(it.part) + "/" + strconv.FormatInt(it.term, 10) + "/" + it.d.Receipt
			return it.d, true, nil
		}
		ch, ok := o.lanes.wait(func() bool { return len(o.lanes.ready) > 0 })
		if ok {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return core.Delivery{}, false, ctx.Err()
		case <-t.C:
			return core.Delivery{}, false, nil
		case <-o.ctx.Done():
			return core.Delivery{}, false, core.ErrClosed
		}
	}
}

// item returns d's partition, term and the delivery as its partition gave
// it.
func (o *Ordered) item(d core.Delivery) (laneItem, error) {
	ps, rest, ok1 := strings.Cut(d.Receipt, "/")
	ts, id, ok2 := strings.Cut(rest, "/")
	i, err1 := strconv.Atoi(ps)
	tok, err2 := strconv.ParseInt(ts, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || i < 0 || i >= len(o.parts) || tok <= 0 {
		return laneItem{}, fmt.Errorf("redis: receipt %q names no partition and term of %d: %w", d.Receipt, len(o.parts), core.ErrDeliveryLost)
	}
	d.Receipt = id
	return laneItem{part: i, term: tok, d: d}, nil
}

// settled reports whether a commit's error ends the delivery, so that its
// key's next event may go: committed, or lost to another owner.
func settled(err error) bool { return err == nil || errors.Is(err, core.ErrDeliveryLost) }

// Commit commits d's outcome in its partition under its term's token:
// nothing is written if another worker owns the partition now
// (core.ErrDeliveryLost).
func (o *Ordered) Commit(ctx context.Context, d core.Delivery, out core.Outcome) error {
	it, err := o.item(d)
	if err != nil {
		return err
	}
	err = o.parts[it.part].commitFenced(ctx, it.d, out, strconv.FormatInt(it.term, 10))
	if settled(err) {
		o.lanes.done(it.part, it.term, it.d.Event.Key())
	}
	return err
}

// CommitBatch commits each outcome as Commit would, in one batch per
// partition and term, the batches at once.
func (o *Ordered) CommitBatch(ctx context.Context, commits []core.Commit) []error {
	errs := make([]error, len(commits))
	type group struct {
		part int
		term int64
	}
	groups := map[group][]int{}
	items := make([]laneItem, len(commits))
	for k, c := range commits {
		it, err := o.item(c.Delivery)
		if err != nil {
			errs[k] = err
			continue
		}
		items[k] = it
		g := group{it.part, it.term}
		groups[g] = append(groups[g], k)
	}
	keys := slices.Collect(maps.Keys(groups))
	inParallel(len(keys), func(n int) {
		g, ks := keys[n], groups[keys[n]]
		batch := make([]core.Commit, len(ks))
		for j, k := range ks {
			batch[j] = core.Commit{Delivery: items[k].d, Outcome: commits[k].Outcome}
		}
		for j, err := range o.parts[g.part].commitBatchFenced(ctx, batch, strconv.FormatInt(g.term, 10)) {
			errs[ks[j]] = err
			if settled(err) {
				o.lanes.done(g.part, g.term, items[ks[j]].d.Event.Key())
			}
		}
	})
	return errs
}

// Ack acknowledges d under its term's token: a commit with no outcome.
func (o *Ordered) Ack(ctx context.Context, d core.Delivery) error {
	return o.Commit(ctx, d, core.Outcome{})
}

// Release hands d out again before anything else, keeping its key's place.
// A delivery of a partition this worker no longer owns stays pending for
// the new owner, which claims it.
func (o *Ordered) Release(_ context.Context, d core.Delivery) error {
	it, err := o.item(d)
	if err != nil {
		return err
	}
	if !o.lanes.putBack(it) {
		o.lanes.done(it.part, it.term, it.d.Event.Key())
	}
	return nil
}

// DeadLetter writes dl to the dead letters of its event's partition (that
// of its key; partition 0 for a keyless event).
func (o *Ordered) DeadLetter(ctx context.Context, dl core.DeadLetter) error {
	return o.shared.DeadLetter(ctx, dl)
}

// Close stops reading, releases the leases this worker holds (so that the
// next owners need not wait for them to run out) and leaves the members,
// then closes every partition (and the client, when it made it). What was
// read and not handled stays pending for the next owner, which claims it
// first. It is safe to call twice, and on a nil *Ordered.
func (o *Ordered) Close() error {
	if o == nil {
		return nil
	}
	o.closeOnce.Do(func() {
		o.startOnce.Do(func() { o.ctx, o.stop = context.WithCancel(context.Background()) })
		o.stop()
		o.loops.Wait()
		o.relay.wait()
		o.lanes.close()
		ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
		defer cancel()
		var errs []error
		for i, t := range o.terms {
			if t != nil {
				if _, err := lease(ctx, o.parts[i], "release", o.me, o.opts.LeaseTTL, t.token); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if _, err := o.heartbeat(ctx, 0); err != nil {
			errs = append(errs, err)
		}
		for _, b := range o.parts {
			errs = append(errs, b.Close())
		}
		if o.ownRDB {
			errs = append(errs, o.rdb.Close())
		}
		o.closeErr = errors.Join(errs...)
	})
	return o.closeErr
}

// Compile-time checks of the capabilities the Spine discovers.
var (
	_ core.Backend        = (*Ordered)(nil)
	_ core.Committer      = (*Ordered)(nil)
	_ core.BatchCommitter = (*Ordered)(nil)
	_ core.Releaser       = (*Ordered)(nil)
	_ core.DeadLetterer   = (*Ordered)(nil)
)
