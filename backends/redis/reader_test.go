package redis_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

func TestStreamModeStartsAtNew(t *testing.T) {
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr()
	producer := newBackend(t, nsredis.Config{URL: url, Mode: nsredis.ModeStream})
	ctx := ctxT(t)
	old := ev(t, "OLD", 0)
	_ = producer.Enqueue(ctx, old)
	b := newBackend(t, nsredis.Config{URL: url, Mode: nsredis.ModeStream})
	fresh := ev(t, "NEW", 1)
	_ = producer.Enqueue(ctx, fresh)
	d := mustPull(t, b)
	if d.Event.ID() != fresh.ID() {
		t.Errorf("first event in stream mode: got %s, want %s (entries before New are not read)", d.Event, fresh)
	}
	if err := b.Ack(ctx, d); err != nil {
		t.Errorf("Ack in stream mode: %v", err)
	}
	mustEmpty(t, b)
}

// readSizes pulls deliveries from b, waiting pause before each, at least n
// and until b's buffer is empty, and returns how many entries each of the
// reads they caused fetched (what the consumer has pending jumps by).
// Nothing is acknowledged.
func readSizes(t *testing.T, b *nsredis.Backend, rdb *goredis.Client, n int, pause time.Duration) []int64 {
	t.Helper()
	var sizes []int64
	start := pendingCount(t, rdb)
	before := start
	for pulled := int64(0); pulled < int64(n) || before-start > pulled; pulled++ {
		time.Sleep(pause)
		mustPull(t, b)
		if p := pendingCount(t, rdb); p != before {
			sizes = append(sizes, p-before)
			before = p
		}
	}
	return sizes
}

// A consumer whose handlers are quick reads more at a time, up to Batch; one
// whose handlers are slow reads less, down to one entry, and leaves the rest
// of the stream to the other consumers.
func TestReadCountAdaptsToHandlers(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := inspect(t, mr.Addr())
	b := newBackend(t, nsredis.Config{URL: "redis://" + mr.Addr(), Consumer: "a", Batch: 16})
	ctx := ctxT(t)
	enqueue := func(from, to int) {
		for i := from; i < to; i++ {
			if err := b.Enqueue(ctx, ev(t, "E", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each phase has its own entries: quick pulls read ahead while the
	// stream has a backlog, and would take all there is.
	enqueue(0, 100)
	quick := readSizes(t, b, rdb, 100, 0)
	if quick[0] != 8 || slices.Max(quick) != 16 {
		t.Errorf("reads while handing out quickly fetched %v: want 8 first, then up to 16", quick)
	}
	enqueue(100, 300)
	// 40ms a delivery: longer than the 20ms a read's entries may wait. The
	// first read may still ask the quick count: the last quick read (ahead)
	// found the stream drained, so nothing was learnt from it.
	slow := readSizes(t, b, rdb, 24, 40*time.Millisecond)
	if len(slow) < 3 || slow[len(slow)-1] != 1 || slow[len(slow)-2] != 1 || slow[len(slow)-3] != 1 {
		t.Errorf("reads while handing out slowly fetched %v: want them to shrink to 1 entry", slow)
	}
	for i := 1; i < len(slow); i++ {
		if slow[i] > slow[i-1] {
			t.Errorf("reads while handing out slowly fetched %v: a read grew", slow)
			break
		}
	}
}

// On a real server (miniredis cannot: its blocking reads hang after a
// restart), a pull blocked in XREADGROUP when Redis dies returns an error
// instead of hanging, and once Redis is back without its data the backend
// re-creates the group and delivers new events.
func TestRealRedisRestartDuringBlockingRead(t *testing.T) {
	srv := redistest.Start(t)
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Block: 500 * time.Millisecond})
	ctx := ctxT(t)

	pulled := make(chan error, 1)
	go func() {
		_, _, err := b.Pull(ctx, 30*time.Second)
		pulled <- err
	}()
	time.Sleep(200 * time.Millisecond) // let it block
	srv.Kill()
	select {
	case err := <-pulled:
		if err == nil || errors.Is(err, context.Canceled) {
			t.Fatalf("blocked Pull when Redis died: got %v, want a connection error", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("blocked Pull did not return when Redis died")
	}
	// While Redis is down, pulls fail fast rather than hang.
	start := time.Now()
	if _, _, err := b.Pull(ctx, time.Second); err == nil {
		t.Error("Pull with Redis down returned no error")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Pull with Redis down took %v", d)
	}

	srv.Start() // same port, no persistence: the stream and group are gone
	want := ev(t, "AFTER_RESTART", 1)
	deadline := time.Now().Add(15 * time.Second)
	for b.Enqueue(ctx, want) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Enqueue never succeeded after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		d, ok, err := b.Pull(ctx, 500*time.Millisecond)
		if ok {
			if d.Event.ID() != want.ID() {
				t.Fatalf("after restart: got %s, want %s", d.Event, want)
			}
			if err := b.Commit(ctx, d, core.Outcome{}); err != nil {
				t.Fatalf("Commit after restart: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event after restart; last error: %v", err)
		}
	}
}
