package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// maintenance runs the chores of a consumer in one goroutine, from its
// first Pull in ModeGroup until Close, each on its own schedule:
//   - leases (every ownership.leaseEvery): the held entries' idle time is
//     renewed, so a slow handler's entry is not reclaimed (see ownership);
//   - tidying (every ClaimInterval): a consumer that holds no pending entry
//     and has not been seen for ClaimMinIdle is removed from the group
//     (each run of a worker has its own name, so the group would otherwise
//     list every one that ever ran); one with pending entries stays until
//     reclaim has moved them; one removed while alive loses nothing, since
//     it holds nothing, and its next read adds it back; the check and the
//     removal are one script, so a consumer cannot read entries in between
//     and have them dropped with it. The group's last-delivered id is
//     refreshed on the same schedule (see reader.seen);
//   - trimming (every Trim.Interval, and at once again while a trim finds
//     more to remove than one call takes): never past the oldest entry any
//     group on the stream still needs (pending, or not yet delivered).
//
// Reclaim is not a chore: it hands entries to this consumer, so it runs in
// Pull, when the consumer is ready for them.
type maintenance struct {
	rdb goredis.UniversalClient
	cfg *Config
	log *slog.Logger

	mu      sync.Mutex
	started bool
	quit    chan struct{}
	done    chan struct{}
	// heldBy is the group that held the last trim back, while the stream
	// is over twice its MaxLen (said once, until it lets go).
	heldBy string
}

// trimPage is the most entries one trim call looks at to find the length
// cut: large enough to keep up with any rate a round trip per call allows.
const trimPage = 10_000

// start starts the chores, once.
func (m *maintenance) start(b *Backend) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || b.isClosed() {
		return
	}
	m.started = true
	m.quit, m.done = make(chan struct{}), make(chan struct{})
	go m.run(b)
}

// stop stops the chores and returns a function that waits for them, until
// ctx ends.
func (m *maintenance) stop() (wait func(ctx context.Context)) {
	m.mu.Lock()
	started := m.started
	m.started = true // none after Close
	m.mu.Unlock()
	if !started {
		return func(context.Context) {}
	}
	close(m.quit)
	return func(ctx context.Context) {
		select {
		case <-m.done:
		case <-ctx.Done():
		}
	}
}

// chore is one of the maintenance's jobs; run reports whether it should run
// again at once.
type chore struct {
	name  string
	every time.Duration
	run   func(ctx context.Context) (again bool, err error)
	next  time.Time
	fails int
}

func (m *maintenance) run(b *Backend) {
	defer close(m.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chores := []*chore{
		{name: "renew leases", every: b.own.leaseEvery(), run: func(ctx context.Context) (bool, error) { return false, b.renewLeases(ctx) }},
		{name: "tidy the group", every: m.cfg.ClaimInterval, run: func(ctx context.Context) (bool, error) {
			if err := m.removeIdleConsumers(ctx); err != nil {
				return false, err
			}
			return false, b.reader.refreshSeen(ctx)
		}},
	}
	if m.cfg.Trim.enabled() {
		chores = append(chores, &chore{name: "trim", every: m.cfg.Trim.Interval, run: m.trim})
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-timer.C:
		}
		next := time.Now().Add(time.Hour)
		for _, c := range chores {
			select {
			case <-m.quit:
				return // Close waits: no more chores, each a Timeout long on a silent link
			default:
			}
			if !time.Now().Before(c.next) {
				m.do(ctx, c)
			}
			if c.next.Before(next) {
				next = c.next
			}
		}
		timer.Reset(time.Until(next))
	}
}

// do runs c once, within Timeout, and schedules it again. A chore that
// fails says so at Warn the first time, and when it works again.
func (m *maintenance) do(ctx context.Context, c *chore) {
	cctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	again, err := c.run(cctx)
	cancel()
	c.next = time.Now().Add(c.every)
	if again {
		c.next = time.Now()
	}
	switch {
	case err != nil:
		c.fails++
		level := slog.LevelDebug
		if c.fails == 1 {
			level = slog.LevelWarn
		}
		m.log.LogAttrs(ctx, level, "redis: could not "+c.name, slog.String(core.KeyError, err.Error()),
			slog.Int(core.KeyFailures, c.fails))
	case c.fails > 0:
		m.log.LogAttrs(ctx, slog.LevelInfo, "redis: could "+c.name+" again", slog.Int(core.KeyFailures, c.fails))
		c.fails = 0
	}
}

// removeIdleConsumers deletes from the group the consumers that hold no
// pending entry and have not been seen for ClaimMinIdle.
func (m *maintenance) removeIdleConsumers(ctx context.Context) error {
	removed, err := removeIdleScript.Run(ctx, m.rdb, []string{m.cfg.Stream},
		m.cfg.Group, m.cfg.ClaimMinIdle.Milliseconds(), m.cfg.Consumer).StringSlice()
	if isNoGroup(err) || isNoSuchKey(err) {
		return nil // nothing to tidy: the next read re-creates the group
	}
	if err != nil {
		return fmt.Errorf("redis: remove idle consumers: %w", err)
	}
	if len(removed) > 0 {
		m.log.LogAttrs(ctx, slog.LevelInfo, "redis: removed idle consumers that held nothing",
			slog.String(keyGroup, m.cfg.Group), slog.String(keyConsumers, strings.Join(removed, ",")))
	}
	return nil
}

// trim applies Config.Trim with one script call (scripts/trim.lua), and
// reports whether there is more to remove at once.
func (m *maintenance) trim(ctx context.Context) (bool, error) {
	age := ""
	if m.cfg.Trim.MaxAge > 0 {
		age = streamID{ms: uint64(time.Now().Add(-m.cfg.Trim.MaxAge).UnixMilli())}.String()
	}
	res, err := trimScript.Run(ctx, m.rdb, []string{m.cfg.Stream}, age, m.cfg.Trim.MaxLen, trimPage).Slice()
	if isNoSuchKey(err) {
		return false, nil // no stream yet
	}
	if err != nil {
		return false, fmt.Errorf("redis: trim: %w", err)
	}
	if len(res) != 5 {
		return false, fmt.Errorf("redis: trim: unexpected answer %v", res)
	}
	removed, _ := res[0].(int64)
	more, _ := res[1].(int64)
	minID, _ := res[2].(string)
	holder, _ := res[3].(string)
	length, _ := res[4].(int64)
	if removed > 0 {
		m.log.LogAttrs(ctx, slog.LevelDebug, "redis: trimmed the stream",
			slog.String(keyStream, m.cfg.Stream), slog.Int64(keyRemoved, removed), slog.String(keyMinID, minID))
	}
	m.heldBack(ctx, holder, length)
	return more == 1, nil
}

// heldBack says when another group keeps the stream from being trimmed to
// its MaxLen: that group has stopped reading, or reads too slowly.
func (m *maintenance) heldBack(ctx context.Context, holder string, length int64) {
	over := m.cfg.Trim.MaxLen > 0 && length > 2*m.cfg.Trim.MaxLen
	switch {
	case over && holder != "" && holder != m.cfg.Group && holder != m.heldBy:
		m.heldBy = holder
		m.log.LogAttrs(ctx, slog.LevelWarn, "redis: another group holds the trim back: it has entries pending or not yet read that are kept, however long the stream grows",
			slog.String(keyStream, m.cfg.Stream), slog.String(keyHeldBy, holder), slog.Int64(keyLength, length))
	case m.heldBy != "" && (!over || holder != m.heldBy):
		m.log.LogAttrs(ctx, slog.LevelInfo, "redis: the trim is no longer held back by another group",
			slog.String(keyStream, m.cfg.Stream), slog.String(keyHeldBy, m.heldBy), slog.Int64(keyLength, length))
		m.heldBy = ""
	}
}
