package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// In ordered mode each partition has one owner at a time. The rules its
// lease keeps (scripts/owner.lua, scripts/fencedread.lua):
//   - The owner record (ownerKey, a hash in the partition's slot) names the
//     owner, its token and the end of its lease, in Redis's own time.
//   - A worker acquires a partition that has no owner or whose owner's
//     lease ran out, and the token grows by one; the record never expires,
//     so a token is never handed out twice.
//   - Every write of an owner carries its token, and a script checks it
//     before writing: a read (XREADGROUP) or a claim moves entries to the
//     owner only while it owns the partition under that token, and so does
//     a commit. An owner paused past its lease (a GC pause, SIGSTOP, a
//     partitioned network) finds its partition taken over when it comes
//     back: its reads and commits write nothing (errFenced), and it drops
//     what it held.
//   - A new owner first claims every entry pending in the group, whoever
//     holds it, oldest first, then reads new ones: the entries of a key are
//     handed out in stream order across owners.
//   - Nothing waits for ClaimMinIdle: the token, not idle time, says who
//     may write.

// errFenced is the error of a write refused because the worker no longer
// owns the partition under its token: another took it over.
var errFenced = fmt.Errorf("partition owned by another worker now (fenced): %w", core.ErrDeliveryLost)

// ownerKey is the key of a partition's owner record.
func ownerKey(stream string) string { return stream + ":owner" }

// leaseAnswer is what owner.lua answers: the token held (0: not this
// worker's), and when held by another, its name and how long its lease
// lasts.
type leaseAnswer struct {
	token int64
	left  time.Duration
	owner string
}

// lease runs op ("acquire", "renew" or "release") on the owner record of
// partition b for worker me, holding token (0 for none). With
// Config.WaitReplicas an acquisition returns once the replicas have it, so
// that a failover cannot hand the same token out again.
func lease(ctx context.Context, b *Backend, op, me string, ttl time.Duration, token int64) (leaseAnswer, error) {
	stream := b.cfg.Stream
	var res []any
	run := func(c goredis.Cmdable) (err error) {
		res, err = ownerScript.Run(ctx, c, []string{ownerKey(stream)}, op, me, ttl.Milliseconds(), token).Slice()
		return err
	}
	var err error
	if op == "acquire" {
		err = replicated(ctx, b.rdb, &b.cfg, stream, run)
	} else {
		err = run(b.rdb)
	}
	reloadOnNetError(b.rdb, err)
	if err != nil {
		return leaseAnswer{}, fmt.Errorf("redis: %s the lease of %s (a script of TIME, HMGET, HSET): %w", op, stream, classify(err))
	}
	var a leaseAnswer
	if len(res) < 2 {
		return a, fmt.Errorf("redis: %s the lease of %s: unexpected answer %v", op, stream, res)
	}
	a.token, _ = res[0].(int64)
	left, _ := res[1].(int64)
	a.left = time.Duration(left) * time.Millisecond
	if len(res) > 2 {
		a.owner, _ = res[2].(string)
	}
	return a, nil
}

// fencedReader reads one partition for its owner under a token.
type fencedReader struct {
	b     *Backend
	token int64
	fence string // token, as the scripts take it
	// claimFrom is where the next claim starts: "-", then after the last
	// pending entry looked at; "" once every pending entry was claimed.
	claimFrom string
	// claimedKeys are the keys of the entries claimed so far: only the
	// first claimed entry of a key can have been handed to an organ.
	claimedKeys map[string]bool
}

func newFencedReader(b *Backend, token int64) *fencedReader {
	return &fencedReader{b: b, token: token, fence: strconv.FormatInt(token, 10), claimFrom: "-", claimedKeys: map[string]bool{}}
}

// firstOfKey reports whether a claimed entry of key is the first claimed
// of its key in this term: the one its former owner may have handed to an
// organ (a keyless entry always may have been).
func (r *fencedReader) firstOfKey(key string) bool {
	if key == "" {
		return true
	}
	if r.claimedKeys[key] {
		return false
	}
	r.claimedKeys[key] = true
	return true
}

// bump counts one more delivery of each of ids, pending for this worker.
func (r *fencedReader) bump(ctx context.Context, ids []any) error {
	b := r.b
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	res, err := fencedReadScript.Run(ctx, b.rdb, []string{b.cfg.Stream, ownerKey(b.cfg.Stream)},
		append([]any{b.cfg.Group, b.cfg.Consumer, r.fence, 0, "bump"}, ids...)...).Slice()
	reloadOnNetError(b.rdb, err)
	if err != nil {
		return fmt.Errorf("redis: count the deliveries of %d claimed entries of %s: %w", len(ids), b.cfg.Stream, classify(err))
	}
	if kind, _ := firstString(res); kind == "fenced" {
		return errFenced
	}
	return nil
}

// next returns the partition's next entries: first those pending in the
// group (claimed), then new ones. idleAfter is set, with no entries, when
// there is nothing new: the id of the stream's last entry, to wait after.
func (r *fencedReader) next(ctx context.Context) (entries []claimedEntry, idleAfter string, err error) {
	b := r.b
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	op := "read"
	if r.claimFrom != "" {
		op = "claim"
	}
	res, err := fencedReadScript.Run(ctx, b.rdb, []string{b.cfg.Stream, ownerKey(b.cfg.Stream)},
		b.cfg.Group, b.cfg.Consumer, r.fence, b.cfg.Batch, op, r.claimFrom).Slice()
	reloadOnNetError(b.rdb, err)
	if isNoGroup(err) {
		if _, err := b.reader.ensureGroup(ctx, "0"); err != nil {
			return nil, "", err
		}
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("redis: %s %s: %w", op, b.cfg.Stream, classify(err))
	}
	kind, _ := firstString(res)
	switch {
	case kind == "fenced":
		return nil, "", errFenced
	case kind == "idle" && len(res) == 2:
		idleAfter, _ = res[1].(string)
		return nil, idleAfter, nil
	case kind == "read" && len(res) == 2:
		list, _ := res[1].([]any)
		entries, err = parseTakenBack(list)
	case kind == "claimed" && len(res) == 4:
		last, _ := res[1].(string)
		looked, _ := res[2].(int64)
		list, _ := res[3].([]any)
		if entries, err = parseTakenBack(list); err == nil {
			r.claimFrom = "(" + last
			if looked < int64(b.cfg.Batch) {
				r.claimFrom = ""
			}
		}
	default:
		err = fmt.Errorf("unexpected answer %v", res)
	}
	if err != nil {
		return nil, "", fmt.Errorf("redis: %s %s: %w", op, b.cfg.Stream, err)
	}
	return entries, "", nil
}

// wait blocks until the stream has an entry after id, for at most Block.
// It reads nothing for the group: the next fenced read does.
func (r *fencedReader) wait(ctx context.Context, after string) error {
	b := r.b
	ctx, cancel := bounded(ctx, b.cfg.Block+b.cfg.Timeout)
	defer cancel()
	err := b.rdb.XRead(ctx, &goredis.XReadArgs{Streams: []string{b.cfg.Stream, after}, Count: 1, Block: b.cfg.Block}).Err()
	if errors.Is(err, goredis.Nil) || (err != nil && ctx.Err() != nil) {
		return nil
	}
	reloadOnNetError(b.rdb, err)
	if err != nil {
		return fmt.Errorf("redis: wait on %s: %w", b.cfg.Stream, classify(err))
	}
	return nil
}

func firstString(res []any) (string, bool) {
	if len(res) == 0 {
		return "", false
	}
	s, ok := res[0].(string)
	return s, ok
}
