package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// StreamEvent is an entry of a stream as the Inspector reads it: the
// event it holds, or why it holds none.
type StreamEvent struct {
	EntryID string
	Event   core.Event // zero when the entry is no valid event
	// Problem says why not, then (Reason is ReasonMalformed or
	// ReasonOversized), and Raw what the entry held.
	Problem, Reason, Raw string
}

func streamEvent(m goredis.XMessage, maxBytes int) StreamEvent {
	e, bad := decodeEntry(m.Values, maxBytes)
	se := StreamEvent{EntryID: m.ID, Event: e}
	if bad != nil {
		se.Problem, se.Reason, se.Raw = bad.err, bad.reason, bad.raw
	}
	return se
}

// Events returns up to limit entries of stream (0: 10,000), newest first
// when newest is set, else oldest first.
func (in *Inspector) Events(ctx context.Context, stream string, newest bool, limit int) ([]StreamEvent, error) {
	if err := in.checkBounded(ctx, stream); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 10_000
	}
	return pages(ctx, in.timeout, limit, "", func(ctx context.Context, after string, n int64) ([]StreamEvent, string, error) {
		var page []goredis.XMessage
		var err error
		if newest {
			from := "+"
			if after != "" {
				from = "(" + after
			}
			page, err = in.rdb.XRevRangeN(ctx, stream, from, "-", n).Result()
		} else {
			from := "-"
			if after != "" {
				from = "(" + after
			}
			page, err = in.rdb.XRangeN(ctx, stream, from, "+", n).Result()
		}
		if err != nil {
			return nil, "", fmt.Errorf("redis: read %s: %w", stream, classify(err))
		}
		out := make([]StreamEvent, len(page))
		for i, m := range page {
			out[i] = streamEvent(m, DefaultMaxEventBytes)
		}
		return out, lastOf(out, func(se StreamEvent) string { return se.EntryID }), nil
	})
}

// Follow reads the entries of stream added after the entry id after ("$"
// for those added from now on), blocking up to block for some, and
// returns them and the id to follow from next.
func (in *Inspector) Follow(ctx context.Context, stream, after string, block time.Duration) ([]StreamEvent, string, error) {
	ctx, cancel := bounded(ctx, block+in.timeout)
	defer cancel()
	res, err := in.rdb.XRead(ctx, &goredis.XReadArgs{Streams: []string{stream, after}, Block: block, Count: 1000}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, after, nil
	}
	if err != nil {
		return nil, after, fmt.Errorf("redis: follow %s: %w", stream, classify(err))
	}
	var out []StreamEvent
	for _, s := range res {
		for _, m := range s.Messages {
			out = append(out, streamEvent(m, DefaultMaxEventBytes))
			after = m.ID
		}
	}
	return out, after, nil
}

// LastID returns the id of stream's newest entry, "0-0" when it has none:
// where Follow starts to read what comes from now on.
func (in *Inspector) LastID(ctx context.Context, stream string) (string, error) {
	ctx, cancel := bounded(ctx, in.timeout)
	defer cancel()
	if err := in.check(ctx, stream); err != nil {
		return "", err
	}
	last, err := in.rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("redis: read %s: %w", stream, classify(err))
	}
	if len(last) == 0 {
		return "0-0", nil
	}
	return last[0].ID, nil
}
