package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

// While the stream has a backlog, the next read starts once the buffer is
// down to half a read, and the entries still come out once each, in order.
// Without a backlog (a read that fetched less than it asked) nothing is read
// ahead.
func TestReadAhead(t *testing.T) {
	srv := redistest.Start(t)
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "w1", Batch: 8})
	ctx := ctxT(t)
	var ids []string
	for i := range 64 {
		e := ev(t, "BACKLOG", i)
		ids = append(ids, e.ID())
		if err := b.Enqueue(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range ids {
		d := mustPull(t, b)
		if d.Event.ID() != want {
			t.Fatalf("pull %d: %s, want %s", i, d.Event.ID(), want)
		}
		if i == 3 {
			// The first read fetched 8 of 8: the fourth Pull leaves 4.
			if n := nsredis.ReadAheads(b); n != 1 {
				t.Fatalf("after 4 of a full read of 8: %d read-aheads, want 1", n)
			}
		}
		if err := b.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	mustEmpty(t, b)
	if n := nsredis.ReadAheads(b); n < 7 {
		t.Errorf("%d read-aheads for 64 entries read 8 at a time, want at least 7", n)
	}
	if n := pendingCount(t, inspect(t, srv.Addr())); n != 0 {
		t.Errorf("%d entries still pending", n)
	}

	before := nsredis.ReadAheads(b)
	for i := range 5 {
		if err := b.Enqueue(ctx, ev(t, "FEW", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if err := b.Ack(ctx, mustPull(t, b)); err != nil {
			t.Fatal(err)
		}
	}
	if n := nsredis.ReadAheads(b) - before; n != 0 {
		t.Errorf("%d read-aheads with no backlog, want 0", n)
	}
}

// Close while a read-ahead is under way (each way of the link delayed):
// Close waits for it and puts back what it brought, with what the buffer
// held, so nothing but what was handed out stays pending for the consumer
// that is gone, and another consumer gets the rest, each once.
func TestCloseDuringReadAhead(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.StartProxy(t, srv.Addr())
	rdb := inspect(t, srv.Addr())
	b := newBackend(t, nsredis.Config{URL: proxy.URL(), Consumer: "w1", Batch: 8})
	ctx := ctxT(t)
	const n = 64
	for i := range n {
		if err := b.Enqueue(ctx, ev(t, "BACKLOG", i)); err != nil {
			t.Fatal(err)
		}
	}
	proxy.SetLatency(100 * time.Millisecond)
	var handed []core.Delivery
	for nsredis.ReadAheads(b) == 0 {
		handed = append(handed, mustPull(t, b))
		if len(handed) > 8 {
			t.Fatal("no read-ahead within a full read of 8")
		}
	}
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v with a read-ahead under way", time.Since(start).Round(time.Millisecond))
	pending, err := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: nsredis.DefaultStream, Group: nsredis.DefaultGroup, Start: "-", End: "+", Count: 100, Consumer: "w1"}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != len(handed) {
		t.Fatalf("%d entries pending for the closed consumer, want the %d it handed out", len(pending), len(handed))
	}
	for i, p := range pending {
		if p.ID != handed[i].Receipt {
			t.Errorf("pending %s, want %s (handed out)", p.ID, handed[i].Receipt)
		}
	}
	seen := map[string]bool{}
	for _, d := range handed {
		seen[d.Event.ID()] = true
	}
	other := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "w2", Batch: 64})
	for len(seen) < n {
		d, ok, err := other.Pull(context.Background(), 2*time.Second)
		if err != nil || !ok {
			t.Fatalf("after %d of %d events: %v, %v", len(seen), n, ok, err)
		}
		if seen[d.Event.ID()] {
			t.Fatalf("event %s delivered twice", d.Event.ID())
		}
		seen[d.Event.ID()] = true
		if err := other.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	mustEmpty(t, other)
}

// A read-ahead keeps the buffer from emptying while there is a backlog, but
// not the reclaim rounds from running: entries stuck with a dead consumer
// are reclaimed while the backlog is worked through, not after it.
func TestReclaimDuringBacklog(t *testing.T) {
	srv := redistest.Start(t)
	rdb := inspect(t, srv.Addr())
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "w1", Batch: 32,
		ClaimMinIdle: 200 * time.Millisecond, ClaimInterval: 50 * time.Millisecond})
	ctx := ctxT(t)
	for i := range 4 {
		if err := b.Enqueue(ctx, ev(t, "STUCK", i)); err != nil {
			t.Fatal(err)
		}
	}
	const backlog = 8000 // at most 20 a millisecond: at least 400ms, twice ClaimMinIdle
	pipe := rdb.Pipeline()
	for i := range backlog {
		wire, _ := ev(t, "BACKLOG", i).MarshalJSON()
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"event", string(wire)}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// The dead consumer's entries, the first four, become reclaimable 200ms
	// after it read them; pulling at most 20 a millisecond, the backlog
	// lasts well beyond.
	stuck := readAs(t, rdb, "dead", 4)
	reclaimedAt := map[string]int{}
	var aheadsBefore int64
	start := time.Now()
	for i := 0; len(reclaimedAt) < len(stuck); i++ {
		d := mustPull(t, b)
		if d.Event.Type() == "STUCK" {
			if len(reclaimedAt) == 0 {
				aheadsBefore = nsredis.ReadAheads(b)
			}
			reclaimedAt[d.Receipt] = i
		}
		if err := b.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
		if i >= backlog {
			t.Fatalf("the backlog of %d was worked through before the stuck entries were reclaimed (%d of %d)", backlog, len(reclaimedAt), len(stuck))
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond) // a consumer handing out 20 entries a millisecond
		}
	}
	t.Logf("stuck entries reclaimed at pulls %v, %v after the start, after %d read-aheads", reclaimedAt, time.Since(start).Round(time.Millisecond), aheadsBefore)
	if aheadsBefore == 0 {
		t.Error("no read-ahead before the reclaim: the test did not exercise it")
	}
}
