package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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
//
// It wires four parts, each with its own state and the rules it keeps: the
// reader (reader.go) reads entries into a buffer, the ownership
// (ownership.go) knows which entries this consumer holds and takes back or
// reclaims the others, the committer (committer.go) writes outcomes
// atomically, and the maintenance (maintenance.go) tidies the group and
// trims the stream. Dead letters are in deadletters.go; Pull, which orders
// the reader's and the ownership's work, is in pull.go.
type Backend struct {
	cfg    Config
	rdb    goredis.UniversalClient
	ownRDB bool
	log    *slog.Logger

	closeOnce sync.Once
	closed    chan struct{}
	checked   atomic.Bool // preflight passed

	reader  *reader
	aheads  atomic.Int64 // read-aheads started, for tests
	own     *ownership
	commits *committer
	chores  *maintenance
	// outboxed, when set (partitions), is called after a commit wrote to
	// the outbox.
	outboxed func()
}

// New returns a Backend for cfg. It validates cfg and, when Redis can be
// reached, checks that it can serve the backend (Redis 7.0 or later, every
// command the backend needs allowed to this user, keys of the right type)
// and in ModeGroup creates the consumer group (with the stream). A refusal
// fails New with a fatal error (core.ErrFatal) that names it. When Redis
// cannot be reached, the checks run on first use, so workers may start
// before Redis does.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Backend{cfg: cfg, log: cfg.Logger, closed: make(chan struct{}), rdb: cfg.Client}
	if b.rdb == nil {
		c, err := universalFromURL(cfg.URL)
		if err != nil {
			return nil, err
		}
		b.rdb, b.ownRDB = c, true
		if _, cluster := c.(*goredis.ClusterClient); cluster {
			if err := b.cfg.checkSlots(); err != nil { // as for a ClusterClient in Config.Client
				_ = c.Close()
				return nil, err
			}
		}
	}
	if err := checkReplicaClient(b.rdb, &b.cfg); err != nil {
		if b.ownRDB {
			_ = b.rdb.Close()
		}
		return nil, err
	}
	if !b.ownRDB {
		for _, w := range clientWarnings(b.rdb) {
			b.log.LogAttrs(ctx, slog.LevelWarn, "redis: Config.Client: "+w)
		}
	}
	b.reader = newReader(b.rdb, &b.cfg, b.log)
	b.own = newOwnership(b.rdb, &b.cfg)
	b.commits = newCommitter(b.rdb, &b.cfg)
	b.chores = &maintenance{rdb: b.rdb, cfg: &b.cfg, log: b.log}
	switch err := b.preflight(ctx); {
	case errors.Is(err, core.ErrFatal):
		if b.ownRDB {
			_ = b.rdb.Close()
		}
		return nil, err
	case err != nil:
		b.log.LogAttrs(ctx, slog.LevelWarn, "redis: cannot reach the server yet; the backend checks it again on first use",
			slog.String(keyStream, cfg.Stream), slog.String(keyGroup, cfg.Group), slog.String(core.KeyError, err.Error()))
	}
	if cfg.Mode == ModeStream {
		if err := b.reader.resolveStreamStart(ctx); err != nil {
			b.log.LogAttrs(ctx, slog.LevelWarn, "redis: cannot read the stream's end yet; will read from the first entry added after the connection",
				slog.String(keyStream, cfg.Stream), slog.String(core.KeyError, err.Error()))
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

// noCancel is what bounded returns when ctx ends soon enough already.
var noCancel context.CancelFunc = func() {}

// bounded returns ctx bounded to d from now, unless it ends sooner already
// (then without allocating). With the client honouring deadlines, a
// command sent with it fails at the bound instead of waiting on a silent
// connection, and the connection is dropped.
func bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, noCancel
	}
	return context.WithTimeout(ctx, d)
}

// Ping checks that Redis answers, within ctx and Config.Timeout. New does
// not require it (a worker may start before Redis); a command that must
// fail fast can call it.
func (b *Backend) Ping(ctx context.Context) error {
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return classify(fmt.Errorf("redis: ping: %w", err))
	}
	return nil
}

// Enqueue adds e to the stream (XADD). It is at-least-once: an error may
// come after Redis stored the event (the reply lost), and enqueueing it
// again then stores it twice, with the same id; Config.EnqueueDedup makes
// such a retry store nothing. With Config.WaitReplicas it returns once the
// replicas have the event.
func (b *Backend) Enqueue(ctx context.Context, e core.Event) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	wire, err := appendWire(make([]byte, 0, 256), e, b.cfg.MaxEventBytes) // most events fit: one allocation
	if err != nil {
		return err
	}
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	err = replicated(ctx, b.rdb, &b.cfg, b.cfg.Stream, func(c goredis.Cmdable) error {
		if b.cfg.EnqueueDedup > 0 {
			err := enqueueScript.Run(ctx, c, []string{b.cfg.Stream, b.cfg.Stream + ":dedup:" + e.ID()},
				fieldEvent, wire, b.cfg.EnqueueDedup.Milliseconds()).Err()
			if errors.Is(err, goredis.Nil) {
				err = nil // enqueued within the window already
			}
			return err
		}
		return c.XAdd(ctx, &goredis.XAddArgs{Stream: b.cfg.Stream, Values: []any{fieldEvent, wire}}).Err()
	})
	if err != nil {
		reloadOnNetError(b.rdb, err)
		return fmt.Errorf("redis: enqueue %s: %w", e, classify(err))
	}
	return nil
}

// putBack requeues d, logging msg when that fails.
func (b *Backend) putBack(ctx context.Context, d core.Delivery, msg string) {
	if err := b.requeue(ctx, d); err != nil {
		b.log.LogAttrs(ctx, slog.LevelWarn, msg,
			slog.String(keyEntryID, d.Receipt), slog.String(core.KeyError, err.Error()))
	}
}

// Ack acknowledges d (XACK) in ModeGroup; in ModeStream it does nothing.
func (b *Backend) Ack(ctx context.Context, d core.Delivery) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	if b.cfg.Mode != ModeGroup || d.Receipt == "" {
		return nil
	}
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	n, err := b.rdb.XAck(ctx, b.cfg.Stream, b.cfg.Group, d.Receipt).Result()
	if err != nil {
		return fmt.Errorf("redis: ack %s: %w", d.Receipt, classify(err))
	}
	b.own.letGo(d.Receipt)
	if n == 0 {
		return fmt.Errorf("redis: ack %s: %w", d.Receipt, core.ErrDeliveryLost)
	}
	return nil
}

// Release hands d out again: the next Pull returns it, before anything else.
// The entry stays pending for this consumer meanwhile; if the Backend is
// closed first, Close puts it back in the stream.
func (b *Backend) Release(ctx context.Context, d core.Delivery) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	if !b.reader.pushFront(d) && b.cfg.Mode == ModeGroup {
		// Closed since the check: Close did not see it, so put it back here.
		b.putBack(ctx, d, "redis: could not put back an entry released during close; another consumer will reclaim it")
	}
	return nil
}

// recreateGroup handles NOGROUP. The first time (New could not reach
// Redis) it creates the group at the start of the stream. After that the
// group was lost (deleted, or Redis restarted without persistence): it
// re-creates it at the restart point (see reader) and says what happened.
func (b *Backend) recreateGroup(ctx context.Context) error {
	oldest, holds := b.own.oldest()
	start, was := b.reader.restartPoint(oldest, holds)
	from := "0"
	if was {
		from = start.String()
	}
	created, err := b.reader.ensureGroup(ctx, from)
	if err != nil || !created || !was {
		return err // another consumer re-created it first, and said so
	}
	b.log.LogAttrs(ctx, slog.LevelError, "redis: consumer group was lost (deleted, or Redis restarted without persistence); "+
		"re-created it after the last entry it was known to have delivered: what was pending in it is gone, and entries after start_id are delivered again",
		slog.String(keyStream, b.cfg.Stream), slog.String(keyGroup, b.cfg.Group), slog.String(keyStartID, from),
		slog.Int(keyEntries, b.own.count()))
	return nil
}

// Close stops the Backend: every later call returns core.ErrClosed, and its
// maintenance stops. In ModeGroup, entries read but not yet handed out (or
// released) are put back in the stream, atomically with their
// acknowledgement, so no entry stays pending for this consumer; what Close
// cannot hand back (Redis unreachable) is logged, and reclaimed by another
// consumer after ClaimMinIdle. Close returns within CloseTimeout. It closes
// the client only if the Backend made it from a URL. It is safe to call
// more than once, and on a nil *Backend (that of a New that failed), which
// does nothing.
func (b *Backend) Close() error {
	if b == nil {
		return nil
	}
	var err error
	b.closeOnce.Do(func() {
		close(b.closed)
		ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
		defer cancel()
		wait := b.chores.stop()
		left, ahead := b.reader.close()
		if ahead != nil {
			select {
			case <-ahead: // it handed back what it brought
			case <-ctx.Done():
			}
		}
		reached := true
		if b.cfg.Mode == ModeGroup && len(left) > 0 {
			reached = b.handBack(ctx, left)
		}
		if b.cfg.Mode == ModeGroup && reached {
			// Only this process's retries needed it; a crash leaves it to
			// expire.
			dctx, cancel := bounded(ctx, b.cfg.Timeout)
			_ = b.rdb.Del(dctx, b.commits.keys[2]).Err()
			cancel()
		}
		wait(ctx)
		if b.ownRDB {
			err = b.rdb.Close()
		}
	})
	return err
}

// handBack puts deliveries back in the stream, in one script call, and logs
// those it could not. It reports whether Redis answered.
func (b *Backend) handBack(ctx context.Context, ds []core.Delivery) bool {
	a := commitArenas.Get().(*commitArena)
	defer a.release()
	staged := make([]stagedCommit, 0, len(ds))
	var failed []string
	for _, d := range ds {
		sc, err := b.commits.stage(d, core.Outcome{Emitted: []core.Event{d.Event}}, a)
		if err != nil {
			failed = append(failed, d.Receipt)
			continue
		}
		staged = append(staged, sc)
	}
	a.resolve(staged)
	var last error
	for i, err := range b.commitStaged(ctx, staged, "") {
		if err != nil && !errors.Is(err, core.ErrDeliveryLost) {
			failed, last = append(failed, staged[i].receipt), err
		}
	}
	if len(failed) > 0 {
		attrs := []slog.Attr{slog.Int(keyEntries, len(failed)), slog.String(keyEntryIDs, strings.Join(failed, ","))}
		if last != nil {
			attrs = append(attrs, slog.String(core.KeyError, last.Error()))
		}
		b.log.LogAttrs(ctx, slog.LevelWarn, "redis: could not hand back entries at close; another consumer will reclaim them after ClaimMinIdle", attrs...)
	}
	var reply goredis.Error
	return last == nil || errors.As(last, &reply)
}
