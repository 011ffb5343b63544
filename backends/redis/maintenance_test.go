package redis_test

import (
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

func TestTrimSparesPendingAndUndelivered(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := inspect(t, mr.Addr())
	url := "redis://" + mr.Addr()
	a := newBackend(t, nsredis.Config{URL: url, Consumer: "a", Batch: 1})
	ctx := ctxT(t)
	var ids []string
	for i := range 20 {
		_ = a.Enqueue(ctx, ev(t, "E", i))
	}
	all, _ := rdb.XRange(ctx, stream, "-", "+").Result()
	for _, m := range all {
		ids = append(ids, m.ID)
	}
	for range 10 { // handled and acknowledged
		if err := a.Ack(ctx, mustPull(t, a)); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 { // delivered, still pending
		mustPull(t, a)
	}
	// b's maintenance, from its first pull, trims to 2 entries as far as
	// it may; 5 entries were never delivered.
	b := newBackend(t, nsredis.Config{URL: url, Consumer: "b", Batch: 1,
		Trim: nsredis.Trim{MaxLen: 2, Interval: time.Millisecond}})
	mustPull(t, b)
	var left []goredis.XMessage
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(time.Millisecond) {
		if left, _ = rdb.XRange(ctx, stream, "-", "+").Result(); len(left) < 20 {
			break
		}
	}
	have := map[string]bool{}
	for _, m := range left {
		have[m.ID] = true
	}
	for i, id := range ids[10:] {
		if !have[id] {
			t.Errorf("entry #%d (%s), pending or undelivered, was trimmed", 10+i, id)
		}
	}
	if len(left) >= 20 {
		t.Errorf("nothing trimmed: %d entries left", len(left))
	}
	for i, id := range ids[:10] {
		if have[id] {
			t.Errorf("acknowledged entry #%d (%s) survived a trim to MaxLen 2", i, id)
		}
	}
}

// Consumers that hold nothing and have not been seen for ClaimMinIdle are
// removed from the group; a dead one with pending entries stays until
// reclaim has moved them. (miniredis does not report consumers' idle times.)
func TestRealRedisRemovesIdleConsumers(t *testing.T) {
	srv := redistest.Start(t)
	rdb := inspect(t, srv.Addr())
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "live", ClaimMinIdle: 300 * time.Millisecond, ClaimInterval: 50 * time.Millisecond})
	ctx := ctxT(t)
	for i := range 2 {
		if err := b.Enqueue(ctx, ev(t, "E", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XAck(ctx, stream, nsredis.DefaultGroup, readAs(t, rdb, "gone", 1)...).Err(); err != nil {
		t.Fatal(err)
	}
	readAs(t, rdb, "dead", 1) // and keeps it
	consumers := func() map[string]int64 {
		cs, err := rdb.XInfoConsumers(ctx, stream, nsredis.DefaultGroup).Result()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		for _, c := range cs {
			m[c.Name] = c.Pending
		}
		return m
	}
	eventually := func(what string, cond func(map[string]int64) bool) {
		t.Helper()
		for start := time.Now(); !cond(consumers()); time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("consumers %v: want %s", consumers(), what)
			}
		}
	}
	time.Sleep(400 * time.Millisecond) // both idle for longer than ClaimMinIdle

	// The first pull starts the maintenance, which removes "gone", and
	// reclaims what "dead" held: "dead" was not removed with its entry.
	d := mustPull(t, b)
	if d.Attempt != 2 {
		t.Fatalf("pulled %s attempt %d, want the reclaimed entry", d.Event, d.Attempt)
	}
	eventually("gone removed", func(m map[string]int64) bool { _, ok := m["gone"]; return !ok })
	if got := consumers(); got["live"] != 1 {
		t.Errorf("consumers: %v, want live holding the reclaimed entry", got)
	}
	if err := b.Commit(ctx, d, core.Outcome{}); err != nil {
		t.Fatal(err)
	}
	// "dead", holding nothing now, goes too; "live" stays, idle or not.
	eventually("live alone", func(m map[string]int64) bool { return len(m) == 1 && m["live"] == 0 })
}

// Trim.MaxAge on a real server: acknowledged entries older than MaxAge are
// trimmed, and entries older still but pending, or not yet delivered to the
// group, are kept. The server keeps one entry per stream node so that the
// approximate cut (XTRIM MINID ~ removes whole nodes only) falls exactly on
// the age limit, and the counts below are exact. ClaimInterval is the
// default: trimming runs on its own Interval.
func TestRealRedisTrimMaxAge(t *testing.T) {
	srv := redistest.Start(t, "--stream-node-max-entries", "1")
	rdb := inspect(t, srv.Addr())
	ctx := ctxT(t)
	const maxAge = 300 * time.Millisecond
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "a", Batch: 1,
		Trim: nsredis.Trim{MaxAge: maxAge, Interval: 20 * time.Millisecond}})
	for i := range 20 {
		if err := b.Enqueue(ctx, ev(t, "E", i)); err != nil {
			t.Fatal(err)
		}
	}
	enqueued := time.Now()
	all, err := rdb.XRange(ctx, stream, "-", "+").Result()
	if err != nil || len(all) != 20 {
		t.Fatalf("XRANGE: %d entries, %v; want 20", len(all), err)
	}
	var ids []string
	for _, m := range all {
		ids = append(ids, m.ID)
	}
	for range 10 { // #0-#9 handled and acknowledged; the first Pull starts the trims
		if err := b.Ack(ctx, mustPull(t, b)); err != nil {
			t.Fatal(err)
		}
	}
	var pending []core.Delivery // #10-#14 delivered, not acknowledged; #15-#19 never delivered
	for range 5 {
		pending = append(pending, mustPull(t, b))
	}
	// left waits until the stream holds want entries, and returns them.
	left := func(want int) []string {
		t.Helper()
		var got []string
		for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
			msgs, err := rdb.XRange(ctx, stream, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			for _, m := range msgs {
				got = append(got, m.ID)
			}
			if len(got) <= want || time.Since(start) > 10*time.Second {
				return got
			}
		}
	}
	if got, want := left(10), ids[10:]; !slices.Equal(got, want) {
		t.Fatalf("after trims with MaxAge %v: %d entries %v, want the 10 pending or undelivered %v", maxAge, len(got), got, want)
	}
	// Once every entry is older than MaxAge, acknowledging the oldest
	// pending one lets the next trim remove it, and only it: the age limit
	// alone would remove everything, so what survives is what the group
	// still needs.
	for time.Since(enqueued) <= maxAge+10*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Ack(ctx, pending[0]); err != nil {
		t.Fatal(err)
	}
	if got, want := left(9), ids[11:]; !slices.Equal(got, want) {
		t.Fatalf("after acknowledging %s: %d entries %v, want %v", ids[10], len(got), got, want)
	}
	if p := pendingCount(t, rdb); p != 4 {
		t.Errorf("%d entries pending, want 4", p)
	}
	for i, id := range ids[15:] { // the undelivered ones are still there to read, in order
		if d := mustPull(t, b); d.Receipt != id {
			t.Errorf("pull #%d: entry %s, want %s", i, d.Receipt, id)
		}
	}
	if n := streamLen(t, rdb, stream); n != 9 {
		t.Errorf("%d entries at the end, want the 9 still pending", n)
	}
	t.Logf("trim max-age: 20 entries, 10 acknowledged trimmed with MaxAge %v, 5 pending and 5 undelivered kept; one more trimmed once acknowledged", maxAge)
}
