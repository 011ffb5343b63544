package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/necrostack/necrostack/core"
)

// The workers of an ordered stream share its partitions out. The rules
// membership keeps (scripts/members.lua):
//   - Every LeaseTTL/3 a worker announces itself in the stream's member set
//     (membersKey), valid for LeaseTTL, and reads who else is there; a
//     worker whose announcement ran out is dropped.
//   - Each partition belongs to its rendezvous winner among the members
//     (RendezvousOwner), so a worker that joins or leaves moves only its
//     own share of the partitions.
//   - A worker acquires the partitions it wins and that are free. One it
//     owns and no longer wins, it hands over: it stops reading it, lets
//     what is in flight settle (for at most LeaseTTL), then releases the
//     lease, and the winner acquires it at its next round. A worker that
//     dies stops renewing: its leases run out within LeaseTTL and the
//     winners take its partitions then.
//   - A lease that cannot be renewed for LeaseTTL (Redis unreachable) is
//     given up: another worker may own the partition by then. Its writes
//     are fenced whatever this worker believes.

// membersKey is the key of an ordered stream's member set.
func membersKey(stream string) string { return stream + ":members" }

// RendezvousOwner returns the worker among members that owns partition i
// in ordered mode: the one with the highest FNV-1a 64-bit hash of its name,
// "/" and i in decimal, finalised with SplitMix64's mixer; ties go to the
// lesser name. It returns "" for no members.
func RendezvousOwner(members []string, i int) string {
	best, bestScore := "", uint64(0)
	suffix := "/" + strconv.Itoa(i)
	for _, m := range members {
		s := rendezvousScore(m + suffix)
		if best == "" || s > bestScore || (s == bestScore && m < best) {
			best, bestScore = m, s
		}
	}
	return best
}

func rendezvousScore(s string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// heartbeat announces this worker for LeaseTTL (0: it leaves) and returns
// the members, sorted.
func (o *Ordered) heartbeat(ctx context.Context, ttl time.Duration) ([]string, error) {
	ctx, cancel := bounded(ctx, o.cfg.Timeout)
	defer cancel()
	members, err := membersScript.Run(ctx, o.rdb, []string{membersKey(o.base)}, o.me, ttl.Milliseconds()).StringSlice()
	reloadOnNetError(o.rdb, err)
	if err != nil {
		return nil, fmt.Errorf("redis: announce worker %q on %s (a script of TIME, ZADD, ZREM, ZREMRANGEBYSCORE, ZRANGE, PEXPIRE): %w", o.me, membersKey(o.base), classify(err))
	}
	slices.Sort(members)
	return members, nil
}

// balance runs the membership rounds until ctx ends.
func (o *Ordered) balance(ctx context.Context) {
	defer o.loops.Done()
	t := time.NewTicker(o.opts.LeaseTTL / 3)
	defer t.Stop()
	for {
		o.round(ctx)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// round is one membership round: announce, renew what is owned, hand over
// what is no longer this worker's, acquire what is.
func (o *Ordered) round(ctx context.Context) {
	members, err := o.heartbeat(ctx, o.opts.LeaseTTL)
	if errors.Is(err, core.ErrFatal) {
		o.failWith(err)
		return
	}
	if err != nil {
		o.log.LogAttrs(ctx, slog.LevelWarn, "redis: ordered stream: heartbeat failed", slog.String(core.KeyError, err.Error()))
	} else {
		o.setMembers(members)
	}
	for i := range o.parts {
		if ctx.Err() != nil {
			return
		}
		o.tend(ctx, i)
	}
}

// tend renews, hands over or acquires partition i, as its winner says.
func (o *Ordered) tend(ctx context.Context, i int) {
	wins := o.winner(i) == o.me
	t := o.term(i)
	switch {
	case t != nil && t.leaving:
	case t != nil && !wins:
		o.handOver(i, t)
	case t != nil:
		o.renew(ctx, i, t)
	case wins:
		o.acquire(ctx, i)
	}
}

// renew extends the lease of partition i, or ends the term when the
// partition is another's now or the lease could not be renewed for
// LeaseTTL.
func (o *Ordered) renew(ctx context.Context, i int, t *term) {
	lctx, cancel := bounded(ctx, o.cfg.Timeout)
	defer cancel()
	a, err := lease(lctx, o.parts[i], "renew", o.me, o.opts.LeaseTTL, t.token)
	switch {
	case err != nil && time.Since(t.renewed) < o.opts.LeaseTTL:
		o.log.LogAttrs(ctx, slog.LevelWarn, "redis: ordered stream: lease not renewed; trying again", slog.Int(keyPartition, i), slog.String(core.KeyError, err.Error()))
	case err != nil:
		o.log.LogAttrs(ctx, slog.LevelError, "redis: ordered stream: lease not renewed for its whole length; partition given up", slog.Int(keyPartition, i), slog.String(core.KeyError, err.Error()))
		o.lose(i, t)
	case a.token == 0:
		o.log.LogAttrs(ctx, slog.LevelWarn, "redis: ordered stream: partition taken over; what this worker still handles of it will commit nothing",
			slog.Int(keyPartition, i), slog.String(keyOwner, a.owner))
		o.lose(i, t)
	default:
		t.renewed = time.Now()
	}
}

// acquire takes partition i if it is free, and starts reading it.
func (o *Ordered) acquire(ctx context.Context, i int) {
	lctx, cancel := bounded(ctx, o.cfg.Timeout)
	defer cancel()
	a, err := lease(lctx, o.parts[i], "acquire", o.me, o.opts.LeaseTTL, 0)
	switch {
	case errors.Is(err, core.ErrFatal):
		o.failWith(fmt.Errorf("partition %d: %w", i, err))
	case err != nil:
		o.log.LogAttrs(ctx, slog.LevelWarn, "redis: ordered stream: cannot acquire a partition; trying again", slog.Int(keyPartition, i), slog.String(core.KeyError, err.Error()))
	case a.token == 0:
		o.log.LogAttrs(ctx, slog.LevelDebug, "redis: ordered stream: partition still held; waiting for its owner to hand it over or its lease to run out",
			slog.Int(keyPartition, i), slog.String(keyOwner, a.owner), slog.Duration(keyLeft, a.left))
	default:
		o.log.LogAttrs(ctx, slog.LevelInfo, "redis: ordered stream: partition acquired", slog.Int(keyPartition, i), slog.Int64(keyToken, a.token))
		o.start(i, a.token)
	}
}
