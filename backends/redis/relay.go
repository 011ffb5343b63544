package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// An event an organ emits with a key of another partition than its
// input's cannot be written there by the commit: a script runs in one hash
// slot. The rules the outbox and its relay keep (scripts/commit.lua,
// scripts/relay.lua):
//   - The commit writes the event to its input partition's outbox
//     (outboxKey, in the same slot), atomically with the rest of the
//     commit, naming the target partition.
//   - A relay moves each outbox entry to its target partition, oldest
//     first, then deletes it from the outbox. The target keeps, per source
//     partition, the id of the last outbox entry it received (relayedKey);
//     an entry at or below it was relayed already and is skipped. So an
//     event is written to its partition once, even when a relay dies
//     between the write and the delete, or two relay the same outbox at
//     once.
//   - Every worker that reads relays every partition's outbox: at once
//     after one of its own commits wrote there, and every relayPoll
//     otherwise, for what a worker that died left.
//   - The relayed event keeps its id; its order among its key's events is
//     the order it reaches its partition.

// outboxKey is the key of a partition's outbox.
func outboxKey(stream string) string { return stream + ":outbox" }

// relayedKey is the key of a partition's record of what it received from
// the outboxes.
func relayedKey(stream string) string { return stream + ":relayed" }

// relayPoll is how often a relay looks at the outboxes it was not told of.
const relayPoll = time.Second

// fieldTarget is the outbox entry's field naming the target partition.
const fieldTarget = "target"

// relay relays the outboxes of parts.
type relay struct {
	parts []*Backend
	kicks []chan struct{}
	log   *slog.Logger
	wg    sync.WaitGroup
}

func newRelay(parts []*Backend) *relay {
	r := &relay{parts: parts, kicks: make([]chan struct{}, len(parts)), log: parts[0].log}
	for i := range r.kicks {
		r.kicks[i] = make(chan struct{}, 1)
	}
	return r
}

// kick has partition i's outbox relayed now.
func (r *relay) kick(i int) {
	select {
	case r.kicks[i] <- struct{}{}:
	default:
	}
}

// start relays every outbox until ctx ends; wait waits for the relays.
func (r *relay) start(ctx context.Context) {
	for i := range r.parts {
		r.wg.Add(1)
		go r.run(ctx, i)
	}
}

func (r *relay) wait() {
	if r != nil {
		r.wg.Wait()
	}
}

// run relays partition i's outbox whenever kicked, and every relayPoll.
func (r *relay) run(ctx context.Context, i int) {
	defer r.wg.Done()
	t := time.NewTicker(relayPoll)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kicks[i]:
		case <-t.C:
		}
		err := r.drain(ctx, i)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			if failures == 1 {
				r.log.LogAttrs(ctx, slog.LevelWarn, "redis: outbox not relayed; trying again", slog.Int(keyPartition, i), slog.String(core.KeyError, err.Error()))
			}
			r.kick(i) // again after the backoff
			select {
			case <-time.After(partitionRetry.Backoff(failures)):
			case <-ctx.Done():
				return
			}
		case failures > 0:
			r.log.LogAttrs(ctx, slog.LevelInfo, "redis: outbox relayed again", slog.Int(keyPartition, i), slog.Int(core.KeyFailures, failures))
			failures = 0
		}
	}
}

// drain relays partition i's outbox until it is empty.
func (r *relay) drain(ctx context.Context, i int) error {
	src := r.parts[i]
	for {
		n, err := r.relayBatch(ctx, src, i, false)
		if err != nil || n < src.cfg.Batch {
			return err
		}
	}
}

// relayBatch relays the oldest Batch entries of partition i's outbox, and
// returns how many it looked at. keep leaves them in the outbox, as a relay
// that dies before deleting them would (for tests).
func (r *relay) relayBatch(ctx context.Context, src *Backend, i int, keep bool) (int, error) {
	ctx, cancel := bounded(ctx, src.cfg.Timeout)
	defer cancel()
	msgs, err := src.rdb.XRangeN(ctx, outboxKey(src.cfg.Stream), "-", "+", int64(src.cfg.Batch)).Result()
	if err != nil {
		reloadOnNetError(src.rdb, err)
		return 0, fmt.Errorf("read the outbox of partition %d: %w", i, err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	byTarget := map[int][]any{}
	var order []int
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.ID)
		j, err := strconv.Atoi(fmt.Sprint(m.Values[fieldTarget]))
		wire, ok := m.Values[fieldEvent].(string)
		if err != nil || j < 0 || j >= len(r.parts) || !ok {
			r.log.LogAttrs(ctx, slog.LevelError, "redis: outbox entry names no partition or holds no event; dropped",
				slog.Int(keyPartition, i), slog.String(keyEntryID, m.ID), slog.String(core.KeyError, describe(m.Values)))
			continue
		}
		if _, seen := byTarget[j]; !seen {
			order = append(order, j)
			byTarget[j] = []any{i, fieldEvent}
		}
		byTarget[j] = append(byTarget[j], m.ID, wire)
	}
	for _, j := range order {
		dst := r.parts[j]
		err := replicated(ctx, dst.rdb, &dst.cfg, dst.cfg.Stream, func(c goredis.Cmdable) error {
			return relayScript.Run(ctx, c, []string{dst.cfg.Stream, relayedKey(dst.cfg.Stream)}, byTarget[j]...).Err()
		})
		if err != nil {
			reloadOnNetError(dst.rdb, err)
			return 0, fmt.Errorf("relay from partition %d to %d: %w", i, j, err)
		}
	}
	if keep {
		return len(msgs), nil
	}
	if err := src.rdb.XDel(ctx, outboxKey(src.cfg.Stream), ids...).Err(); err != nil && !errors.Is(err, goredis.Nil) {
		return 0, fmt.Errorf("delete what was relayed from the outbox of partition %d: %w", i, err)
	}
	return len(msgs), nil
}

// outboxed is an emitted event staged for the outbox: its partition and
// wire form.
type outboxed struct {
	target int
	wire   []byte
}
