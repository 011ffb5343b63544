package redis_test

import (
	"context"
	"errors"
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
