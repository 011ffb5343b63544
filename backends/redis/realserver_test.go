package redis_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

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

// With AOF on, a SIGKILL and restart lose nothing: the group, its pending
// entries and the stream come back, and the consumer carries on.
func TestRealRedisRestartWithPersistence(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	url := srv.URL()
	b := newBackend(t, nsredis.Config{URL: url, Consumer: "w1", Batch: 1})
	ctx := ctxT(t)
	var events []core.Event
	for i := range 3 {
		events = append(events, ev(t, "DURABLE", i))
		if err := b.Enqueue(ctx, events[i]); err != nil {
			t.Fatal(err)
		}
	}
	d := mustPull(t, b)
	srv.Kill()
	srv.Start()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for err = b.Commit(ctx, d, core.Outcome{Emitted: []core.Event{ev(t, "CHILD", 0)}}); err != nil; err = b.Commit(ctx, d, core.Outcome{Emitted: []core.Event{ev(t, "CHILD", 0)}}) {
		if time.Now().After(deadline) {
			t.Fatalf("Commit after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var got []string
	for len(got) < 3 && time.Now().Before(deadline) {
		d, ok, _ := b.Pull(ctx, 500*time.Millisecond)
		if ok {
			got = append(got, d.Event.Type())
			_ = b.Commit(ctx, d, core.Outcome{})
		}
	}
	if want := []string{"DURABLE", "DURABLE", "CHILD"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("after restart: got %v, want %v", got, want)
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
	time.Sleep(400 * time.Millisecond)

	d := mustPull(t, b) // removes "gone", then reclaims what "dead" held
	if d.Attempt != 2 {
		t.Fatalf("pulled %s attempt %d, want the reclaimed entry", d.Event, d.Attempt)
	}
	if got := consumers(); len(got) != 2 || got["dead"] != 0 || got["live"] != 1 {
		t.Errorf("consumers after the first round: %v, want dead (its entry moved) and live", got)
	}
	if err := b.Commit(ctx, d, core.Outcome{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, ok, err := b.Pull(ctx, 100*time.Millisecond); ok || err != nil {
		t.Fatalf("Pull: ok %v, err %v; want nothing", ok, err)
	}
	if got := consumers(); len(got) != 1 || got["live"] != 0 {
		t.Errorf("consumers after the second round: %v, want live alone", got)
	}
}

// A read whose reply is lost when Redis dies leaves entries pending for a
// consumer that never received them. After the failed read the consumer
// takes them back as soon as Redis is back, not after ClaimMinIdle.
func TestRealRedisTakesBackEntriesOfALostRead(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	rdb := inspect(t, srv.Addr())
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "w", ClaimMinIdle: time.Hour, Block: 200 * time.Millisecond})
	ctx := ctxT(t)
	if err := b.Enqueue(ctx, ev(t, "E", 0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, mustPull(t, b), core.Outcome{}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 1; i <= 3; i++ {
		e := ev(t, "E", i)
		want = append(want, e.ID())
		if err := b.Enqueue(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// What Redis did for a read whose reply never reached the consumer.
	readAs(t, rdb, "w", 3)
	srv.Kill()
	if _, _, err := b.Pull(ctx, time.Second); err == nil {
		t.Fatal("Pull with Redis down returned no error")
	}
	srv.Start()
	var got []string
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		d, ok, _ := b.Pull(ctx, 500*time.Millisecond)
		if ok {
			got = append(got, d.Event.ID())
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the restart: got %v, want the three entries of the lost read %v", got, want)
	}
}
