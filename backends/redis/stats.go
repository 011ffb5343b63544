package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// StreamStats is what a stream looks like now, for metrics and operators.
type StreamStats struct {
	Stream string
	// Length is the number of entries in the stream, DeadLetters in its
	// dead-letter stream; Added how many were ever added to it (what
	// trimming does not take back: its throughput, over time; 0 when the
	// user may not run XINFO STREAM).
	Length, DeadLetters, Added int64
	// Groups are the stream's consumer groups, every one of them (not only
	// this Backend's).
	Groups []GroupStats
}

// GroupStats is one consumer group of a stream.
type GroupStats struct {
	Name string
	// Pending is how many entries were delivered and not yet acknowledged;
	// Lag how many were not delivered yet.
	Pending, Lag int64
	// LastDelivered is the id of the last entry the group delivered.
	LastDelivered string
	// OldestPending is how long the oldest pending entry has waited since
	// it was last delivered (0 when nothing is pending).
	OldestPending time.Duration
	Consumers     []ConsumerStats
}

// ConsumerStats is one consumer of a group.
type ConsumerStats struct {
	Name string
	// Pending is how many entries it holds; Idle how long since it last
	// read or claimed one.
	Pending int64
	Idle    time.Duration
}

// lagScan bounds how many entries Stats counts to find a group's lag when
// Redis cannot tell it (after entries were deleted in the middle).
const lagScan = 10_000

// Stats returns the stream's length, its dead letters, and each of its
// groups with their consumers.
func (b *Backend) Stats(ctx context.Context) (StreamStats, error) {
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	return streamStats(ctx, b.rdb, b.cfg.Stream, b.cfg.DeadLetterStream)
}

// streamStats is Stats of stream, whose dead letters are in dlq.
func streamStats(ctx context.Context, rdb goredis.UniversalClient, stream, dlq string) (StreamStats, error) {
	st := StreamStats{Stream: stream}
	var err error
	if st.Length, err = rdb.XLen(ctx, stream).Result(); err != nil {
		return st, fmt.Errorf("redis: stats: %w", classify(err))
	}
	if st.DeadLetters, err = rdb.XLen(ctx, dlq).Result(); err != nil {
		return st, fmt.Errorf("redis: stats: %w", classify(err))
	}
	if st.Added, err = entriesAdded(ctx, rdb, stream); err != nil {
		return st, fmt.Errorf("redis: stats: %w", classify(err))
	}
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil && !isNoSuchKey(err) {
		return st, fmt.Errorf("redis: stats: %w", classify(err))
	}
	for _, g := range groups {
		gs, err := groupStats(ctx, rdb, stream, g)
		if err != nil {
			return st, fmt.Errorf("redis: stats of group %q: %w", g.Name, classify(err))
		}
		st.Groups = append(st.Groups, gs)
	}
	return st, nil
}

// entriesAdded is how many entries stream was ever given (XINFO STREAM):
// even a stream trimmed to nothing remembers. A missing stream, or a user
// not allowed XINFO STREAM (which the backend needs for nothing else),
// gets 0.
func entriesAdded(ctx context.Context, rdb goredis.UniversalClient, stream string) (int64, error) {
	info, err := rdb.XInfoStream(ctx, stream).Result()
	switch {
	case err == nil:
		return info.EntriesAdded, nil
	case isNoSuchKey(err) || goredis.HasErrorPrefix(err, "NOPERM"):
		return 0, nil
	}
	return 0, err
}

func groupStats(ctx context.Context, rdb goredis.UniversalClient, stream string, g goredis.XInfoGroup) (GroupStats, error) {
	gs := GroupStats{Name: g.Name, Pending: g.Pending, Lag: g.Lag, LastDelivered: g.LastDeliveredID}
	if gs.Lag < 0 {
		msgs, err := rdb.XRangeN(ctx, stream, "("+g.LastDeliveredID, "+", lagScan).Result()
		if err != nil {
			return gs, err
		}
		gs.Lag = int64(len(msgs))
	}
	if g.Pending > 0 {
		oldest, err := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: g.Name, Start: "-", End: "+", Count: 1}).Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return gs, err
		}
		if len(oldest) == 1 {
			gs.OldestPending = oldest[0].Idle
		}
	}
	consumers, err := rdb.XInfoConsumers(ctx, stream, g.Name).Result()
	if err != nil {
		return gs, err
	}
	for _, c := range consumers {
		gs.Consumers = append(gs.Consumers, ConsumerStats{Name: c.Name, Pending: c.Pending, Idle: c.Idle})
	}
	return gs, nil
}
