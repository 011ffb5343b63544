package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// Inspector reads the NecroStack streams of a Redis server for operators'
// tools (the necro command): which streams there are, their groups,
// consumers and lag, what each consumer holds, and the dead letters; and
// acts on dead letters when asked (Redrive, RedriveEdited, Purge). Unlike
// a Backend it joins no group, and it writes nothing else. It is safe for
// concurrent use.
type Inspector struct {
	rdb     goredis.UniversalClient
	url     string // redacted
	timeout time.Duration
}

// NewInspector connects to the server at url (as Config.URL, a cluster's
// too; "" is redis://localhost:6379/0) and checks that it answers, within timeout
// (0: DefaultTimeout) per command. A refused password is fatal
// (core.ErrFatal); the error never holds the password.
func NewInspector(ctx context.Context, url string, timeout time.Duration) (*Inspector, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rdb, err := universalFromURL(url)
	if err != nil {
		return nil, err
	}
	if url == "" {
		url = DefaultURL
	}
	in := &Inspector{rdb: rdb, url: RedactURL(url), timeout: timeout}
	pctx, cancel := bounded(ctx, timeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("redis: %s: no answer within %v", in.url, timeout)
		}
		redacted := errors.New(Redact(err.Error(), url))
		if errors.Is(classify(err), core.ErrFatal) {
			redacted = core.Fatal(redacted)
		}
		return nil, fmt.Errorf("redis: %s: %w", in.url, redacted)
	}
	return in, nil
}

// Close closes the Inspector's connections.
func (in *Inspector) Close() error { return in.rdb.Close() }

// URL is the server's URL, without its password.
func (in *Inspector) URL() string { return in.url }

// ErrNoStream is the error of an Inspector asked about a key that holds no
// stream, ErrNoGroup about a group the stream does not have.
var (
	ErrNoStream = errors.New("no such stream")
	ErrNoGroup  = errors.New("no such group")
)

// Streams returns the NecroStack streams on the server (on a cluster, on
// every master), sorted: the keys holding a stream whose newest entry is
// an event (a field "event"), or that has a consumer group; not the
// dead-letter streams (Stream+":dlq", or any stream whose newest entry is
// a dead letter) nor a partition's outbox (Stream+":outbox").
func (in *Inspector) Streams(ctx context.Context) ([]string, error) {
	ctx, cancel := bounded(ctx, 4*in.timeout)
	defer cancel()
	var keys []string
	var mu sync.Mutex
	scan := func(ctx context.Context, node goredis.Cmdable) error {
		var cursor uint64
		for {
			batch, next, err := node.ScanType(ctx, cursor, "*", 1000, "stream").Result()
			if err != nil {
				return fmt.Errorf("redis: list streams: %w", classify(err))
			}
			mu.Lock()
			keys = append(keys, batch...)
			mu.Unlock()
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	var err error
	if c, ok := in.rdb.(*goredis.ClusterClient); ok { // each master holds its slots' keys
		err = c.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error { return scan(ctx, node) })
	} else {
		err = scan(ctx, in.rdb)
	}
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	var out []string
	for _, k := range keys {
		if base, isDLQ := strings.CutSuffix(k, dlqSuffix); isDLQ {
			if _, found := slices.BinarySearch(keys, base); found {
				continue
			}
		}
		if base, isOutbox := strings.CutSuffix(k, ":outbox"); isOutbox { // a partition's outbox (relay.go)
			if _, found := slices.BinarySearch(keys, base); found {
				continue
			}
		}
		ok, err := in.isEventStream(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("redis: stream %q: %w", k, classify(err))
		}
		if ok {
			out = append(out, k)
		}
	}
	return out, nil
}

// isEventStream reports whether key looks like a NecroStack stream.
func (in *Inspector) isEventStream(ctx context.Context, key string) (bool, error) {
	last, err := in.rdb.XRevRangeN(ctx, key, "+", "-", 1).Result()
	if err != nil {
		return false, err
	}
	if len(last) == 1 {
		_, event := last[0].Values[fieldEvent]
		_, dead := last[0].Values[dlReason]
		if dead {
			return false, nil
		}
		if event {
			return true, nil
		}
	}
	groups, err := in.rdb.XInfoGroups(ctx, key).Result()
	if err != nil {
		return false, err
	}
	return len(groups) > 0, nil
}

// Stats is what Backend.Stats says of stream, whose dead letters are in
// stream+":dlq". A key that holds no stream is ErrNoStream.
func (in *Inspector) Stats(ctx context.Context, stream string) (StreamStats, error) {
	ctx, cancel := bounded(ctx, 4*in.timeout)
	defer cancel()
	if err := in.check(ctx, stream); err != nil {
		return StreamStats{Stream: stream}, err
	}
	return streamStats(ctx, in.rdb, stream, deadLetterStreamOf(stream))
}

// Added is StreamStats.Added of stream alone, in one command: for a view
// that samples the rate entries arrive at. A missing stream, or a user not
// allowed XINFO STREAM, gets 0.
func (in *Inspector) Added(ctx context.Context, stream string) (int64, error) {
	ctx, cancel := bounded(ctx, in.timeout)
	defer cancel()
	n, err := entriesAdded(ctx, in.rdb, stream)
	if err != nil {
		return 0, fmt.Errorf("redis: entries added to %s: %w", stream, classify(err))
	}
	return n, nil
}

// pageSize is how many items a paged read asks for at a time.
const pageSize = 1000

// pages reads up to limit (0: all) items, a page of at most pageSize at a
// time, each read in its own bound: fetch returns up to n items after the
// cursor after ("" for the first page) and the cursor of its last.
func pages[T any](ctx context.Context, bound time.Duration, limit int, after string,
	fetch func(ctx context.Context, after string, n int64) ([]T, string, error)) ([]T, error) {
	var out []T
	for limit <= 0 || len(out) < limit {
		n := int64(pageSize)
		if limit > 0 {
			n = min(n, int64(limit-len(out)))
		}
		pctx, cancel := bounded(ctx, bound)
		page, last, err := fetch(pctx, after, n)
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if int64(len(page)) < n {
			break
		}
		after = last
	}
	return out, nil
}

// lastOf is the id of page's last item, "" for an empty page.
func lastOf[T any](page []T, id func(T) string) string {
	if len(page) == 0 {
		return ""
	}
	return id(page[len(page)-1])
}

// checkBounded is check within one command's bound.
func (in *Inspector) checkBounded(ctx context.Context, key string) error {
	ctx, cancel := bounded(ctx, in.timeout)
	defer cancel()
	return in.check(ctx, key)
}

// check returns ErrNoStream, naming it, unless key holds a stream.
func (in *Inspector) check(ctx context.Context, key string) error {
	t, err := in.rdb.Type(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("redis: %s: %w", key, classify(err))
	}
	if t != "stream" {
		what := "nothing"
		if t != "none" {
			what = "a " + t
		}
		return fmt.Errorf("redis: %s on %s: %w (the key holds %s)", key, in.url, ErrNoStream, what)
	}
	return nil
}

// PendingEntry is an entry delivered to a consumer and not yet
// acknowledged.
type PendingEntry struct {
	ID       string
	Consumer string
	// Idle is how long since it was last delivered; Deliveries how many
	// times it was.
	Idle       time.Duration
	Deliveries int64
}

// Pending returns up to limit (0: all) entries pending in group of
// stream, oldest id first; consumer, when not "", keeps that consumer's.
func (in *Inspector) Pending(ctx context.Context, stream, group, consumer string, limit int) ([]PendingEntry, error) {
	if err := in.checkBounded(ctx, stream); err != nil {
		return nil, err
	}
	return pages(ctx, in.timeout, limit, "", func(ctx context.Context, after string, n int64) ([]PendingEntry, string, error) {
		start := "-"
		if after != "" {
			start = "(" + after
		}
		page, err := in.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: group, Consumer: consumer, Start: start, End: "+", Count: n}).Result()
		if err != nil && !errors.Is(err, goredis.Nil) {
			if isNoGroup(err) {
				return nil, "", fmt.Errorf("redis: %s: %w %q", stream, ErrNoGroup, group)
			}
			return nil, "", fmt.Errorf("redis: pending of %q on %s: %w", group, stream, classify(err))
		}
		out := make([]PendingEntry, len(page))
		for i, p := range page {
			out[i] = PendingEntry{ID: p.ID, Consumer: p.Consumer, Idle: p.Idle, Deliveries: p.RetryCount}
		}
		return out, lastOf(out, func(p PendingEntry) string { return p.ID }), nil
	})
}

// DeadLetters lists up to count (0: all) dead letters of stream (in
// stream+":dlq"), oldest first, after the dead-letter id after ("" for
// the beginning).
func (in *Inspector) DeadLetters(ctx context.Context, stream, after string, count int) ([]DeadLetter, error) {
	if err := in.checkBounded(ctx, stream); err != nil {
		return nil, err
	}
	return pages(ctx, in.timeout, count, after, func(ctx context.Context, after string, n int64) ([]DeadLetter, string, error) {
		page, err := listDeadLetters(ctx, in.rdb, deadLetterStreamOf(stream), after, n)
		return page, lastOf(page, func(dl DeadLetter) string { return dl.ID }), err
	})
}

// DeadLetter returns the dead letter id of stream; a missing one is
// ErrNoDeadLetter.
func (in *Inspector) DeadLetter(ctx context.Context, stream, id string) (DeadLetter, error) {
	ctx, cancel := bounded(ctx, in.timeout)
	defer cancel()
	if err := in.check(ctx, stream); err != nil {
		return DeadLetter{}, err
	}
	if err := checkIDs([]string{id}); err != nil {
		return DeadLetter{}, err
	}
	dl, err := getDeadLetter(ctx, in.rdb, deadLetterStreamOf(stream), id)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("redis: %w", err)
	}
	return dl, nil
}

// Redrive moves the dead letters ids of stream back to it, as
// Backend.Redrive does: each atomically, as a new entry with the same
// event. It returns how many it moved; one that holds no valid event is
// left in place and reported with ErrNotRedrivable, one that is gone with
// ErrNoDeadLetter.
func (in *Inspector) Redrive(ctx context.Context, stream string, ids ...string) (int, error) {
	if err := in.checkBounded(ctx, stream); err != nil {
		return 0, err
	}
	if err := checkIDs(ids); err != nil {
		return 0, err
	}
	r := redrive{rdb: in.rdb, stream: stream, dlq: deadLetterStreamOf(stream)}
	for _, id := range ids {
		dctx, cancel := bounded(ctx, 2*in.timeout) // each dead letter in its own bound
		r.byID(dctx, id)
		cancel()
	}
	return r.moved, errors.Join(r.errs...)
}

// RedriveEdited replaces the dead letter id of stream by event, an edited
// wire form, and redrives that: for a dead letter whose entry was not a
// valid event (ReasonMalformed) once it has been mended. The edit must
// decode as an event (core.DecodeEvent, strictly); the error says what is
// wrong with it otherwise, and nothing changes.
func (in *Inspector) RedriveEdited(ctx context.Context, stream, id string, event []byte) error {
	e, err := core.DecodeEvent(event)
	if err != nil {
		return fmt.Errorf("redis: the edited event of %s: %w", id, err)
	}
	dl, err := in.DeadLetter(ctx, stream, id)
	if err != nil {
		return err
	}
	ctx, cancel := bounded(ctx, in.timeout)
	defer cancel()
	dl.Event = e
	r := redrive{rdb: in.rdb, stream: stream, dlq: deadLetterStreamOf(stream)}
	if r.one(ctx, dl); len(r.errs) > 0 {
		return r.errs[0]
	}
	if r.moved == 0 {
		return fmt.Errorf("redis: %s:dlq: %w %s (redriven or purged meanwhile)", stream, ErrNoDeadLetter, id)
	}
	return nil
}

// Purge deletes the dead letters ids of stream for good and returns how
// many there were.
func (in *Inspector) Purge(ctx context.Context, stream string, ids ...string) (int, error) {
	ctx, cancel := bounded(ctx, 4*in.timeout)
	defer cancel()
	if err := in.check(ctx, stream); err != nil {
		return 0, err
	}
	if err := checkIDs(ids); err != nil || len(ids) == 0 {
		return 0, err
	}
	n, err := in.rdb.XDel(ctx, deadLetterStreamOf(stream), ids...).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: purge dead letters of %s: %w", stream, classify(err))
	}
	return int(n), nil
}

// ErrNotEntryID is the error of a dead-letter id that is no stream entry
// id at all.
var ErrNotEntryID = errors.New("not an entry id (such as 1764547200000-0)")

// checkIDs fails naming the first of ids that is not a stream entry id.
func checkIDs(ids []string) error {
	for _, id := range ids {
		if _, err := parseStreamID(id); err != nil {
			return fmt.Errorf("redis: dead letter %q: %w", id, ErrNotEntryID)
		}
	}
	return nil
}
