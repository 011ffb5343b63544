package redis_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

func TestBadEntriesAreDeadLettered(t *testing.T) {
	valid := ev(t, "GOOD", 0)
	wire, _ := valid.MarshalJSON()
	const id = `"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z"`
	tests := []struct {
		name       string
		values     []any
		wantReason string
		wantErr    string
	}{
		{"not json", []any{"event", "the spirits are restless"}, nsredis.ReasonMalformed, "not valid JSON"},
		{"unknown field", []any{"event", `{` + id + `,"event_type":"A","ghost":true}`}, nsredis.ReasonMalformed, `unknown field "ghost"`},
		{"missing type", []any{"event", `{` + id + `}`}, nsredis.ReasonMalformed, "event_type: missing"},
		{"invalid type", []any{"event", `{` + id + `,"event_type":"lower"}`}, nsredis.ReasonMalformed, "UPPER_SNAKE_CASE"},
		{"invalid id", []any{"event", `{"id":"123","timestamp":"2026-10-31T23:59:59Z","event_type":"A"}`}, nsredis.ReasonMalformed, "is not a UUID"},
		{"no event field", []any{"payload", "{}"}, nsredis.ReasonMalformed, `no "event" field`},
		{"extra field", []any{"event", string(wire), "colour", "grey"}, nsredis.ReasonMalformed, `unexpected fields beside "event": "colour"`},
		{"oversized", []any{"event", `{` + id + `,"event_type":"A","payload":{"x":"` + strings.Repeat("o", 600) + `"}}`}, nsredis.ReasonOversized, "more than the 512 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mr := miniredis.RunT(t)
			rdb := inspect(t, mr.Addr())
			b := newBackend(t, nsredis.Config{URL: "redis://" + mr.Addr(), MaxEventBytes: 512})
			ctx := ctxT(t)
			badID, err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: tt.values}).Result()
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Enqueue(ctx, valid); err != nil {
				t.Fatal(err)
			}
			// The bad entry never reaches the caller; the good one after it does.
			if d := mustPull(t, b); d.Event.ID() != valid.ID() {
				t.Fatalf("Pull: got %s, want the valid event", d.Event)
			}
			dls, err := b.DeadLetters(ctx, "", 10)
			if err != nil || len(dls) != 1 {
				t.Fatalf("dead letters: %+v %v", dls, err)
			}
			dl := dls[0]
			if dl.Reason != tt.wantReason || !strings.Contains(dl.Error, tt.wantErr) || dl.EntryID != badID || dl.Raw == "" || !dl.Event.IsZero() {
				t.Errorf("dead letter: reason %q error %q entry %q raw %q; want %q, error containing %q, entry %q",
					dl.Reason, dl.Error, dl.EntryID, dl.Raw, tt.wantReason, tt.wantErr, badID)
			}
			if p := pendingCount(t, rdb); p != 1 {
				t.Errorf("pending: %d, want 1 (the bad entry acknowledged, the good one in hand)", p)
			}
			if _, err := b.Redrive(ctx, dl.ID); !errors.Is(err, nsredis.ErrNotRedrivable) {
				t.Errorf("Redrive of a malformed entry: got %v, want ErrNotRedrivable", err)
			}
		})
	}
}

func TestEnqueueRejectsOversizedEvent(t *testing.T) {
	mr := miniredis.RunT(t)
	b := newBackend(t, nsredis.Config{URL: "redis://" + mr.Addr(), MaxEventBytes: 256})
	big := core.MustEvent("BIG", map[string]string{"x": strings.Repeat("o", 300)})
	if err := b.Enqueue(ctxT(t), big); err == nil || !strings.Contains(err.Error(), "more than MaxEventBytes (256)") {
		t.Errorf("Enqueue of an oversized event: got %v", err)
	}
}

func TestGroupRecreatedOnFreshServer(t *testing.T) {
	mr := miniredis.RunT(t)
	addr := mr.Addr()
	b := newBackend(t, nsredis.Config{URL: "redis://" + addr})
	ctx := ctxT(t)
	_ = b.Enqueue(ctx, ev(t, "BEFORE", 0))
	mustPull(t, b)

	// A fresh, empty server on the same address: the group is gone.
	mr.Close()
	fresh := miniredis.NewMiniRedis()
	if err := fresh.StartAddr(addr); err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer fresh.Close()

	after := ev(t, "AFTER", 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := b.Enqueue(ctx, after); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("Enqueue after restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		d, ok, err := b.Pull(ctx, 200*time.Millisecond)
		if ok {
			if d.Event.ID() != after.ID() {
				t.Fatalf("after restart: got %s, want %s", d.Event, after)
			}
			if err := b.Ack(ctx, d); err != nil {
				t.Fatalf("Ack after restart: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no event after the group was lost: last error %v", err)
		}
	}
}

func TestCloseRequeuesUnhandledEntries(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := inspect(t, mr.Addr())
	url := "redis://" + mr.Addr()
	b, err := nsredis.New(ctxT(t), nsredis.Config{URL: url, Batch: 10, Logger: discard(), Block: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	var events []core.Event
	for i := range 5 {
		events = append(events, ev(t, "E", i))
		_ = b.Enqueue(ctx, events[i])
	}
	first := mustPull(t, b) // the read fetched all five
	if err := b.Ack(ctx, first); err != nil {
		t.Fatal(err)
	}
	released := mustPull(t, b)
	if err := b.Release(ctx, released); err != nil {
		t.Fatal(err)
	}
	if p := pendingCount(t, rdb); p != 4 {
		t.Fatalf("pending before Close: %d, want 4", p)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if p := pendingCount(t, rdb); p != 0 {
		t.Errorf("pending after Close: %d, want 0", p)
	}
	other := newBackend(t, nsredis.Config{URL: url, Consumer: "other"})
	var got []string
	for range 4 {
		got = append(got, mustPull(t, other).Event.ID())
	}
	want := []string{events[1].ID(), events[2].ID(), events[3].ID(), events[4].ID()}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after Close, another consumer got %v, want %v", got, want)
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
