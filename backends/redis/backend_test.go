package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

const stream = nsredis.DefaultStream

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func inspect(t *testing.T, addr string) *goredis.Client {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// clocked starts a miniredis whose clock the test moves (for idle times):
// the server, a client to inspect it, its time now, and its URL.
func clocked(t *testing.T) (*miniredis.Miniredis, *goredis.Client, time.Time, string) {
	t.Helper()
	mr := miniredis.RunT(t)
	now := time.Now()
	mr.SetTime(now)
	return mr, inspect(t, mr.Addr()), now, "redis://" + mr.Addr()
}

// readAs reads n new entries of the stream as consumer, through rdb (a worker
// that read them and died, or whose reply was lost), and returns their ids.
func readAs(t *testing.T, rdb *goredis.Client, consumer string, n int64) []string {
	t.Helper()
	res, err := rdb.XReadGroup(ctxT(t), &goredis.XReadGroupArgs{Group: nsredis.DefaultGroup, Consumer: consumer,
		Streams: []string{stream, ">"}, Count: n}).Result()
	if err != nil {
		t.Fatalf("XREADGROUP as %s: %v", consumer, err)
	}
	var ids []string
	for _, m := range res[0].Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

func mustPull(t *testing.T, b *nsredis.Backend) core.Delivery {
	t.Helper()
	d, ok, err := b.Pull(ctxT(t), 2*time.Second)
	if err != nil || !ok {
		t.Fatalf("Pull: ok=%v err=%v, want an event", ok, err)
	}
	return d
}

func mustEmpty(t *testing.T, b *nsredis.Backend) {
	t.Helper()
	d, ok, err := b.Pull(ctxT(t), 150*time.Millisecond)
	if err != nil || ok {
		t.Fatalf("Pull: got %v ok=%v err=%v, want nothing", d.Event, ok, err)
	}
}

func pendingCount(t *testing.T, rdb *goredis.Client) int64 {
	t.Helper()
	p, err := rdb.XPending(context.Background(), stream, nsredis.DefaultGroup).Result()
	if err != nil {
		t.Fatalf("XPENDING: %v", err)
	}
	return p.Count
}

func streamLen(t *testing.T, rdb *goredis.Client, key string) int64 {
	t.Helper()
	n, err := rdb.XLen(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("XLEN %s: %v", key, err)
	}
	return n
}

func ev(t *testing.T, typ string, n int) core.Event {
	t.Helper()
	e, err := core.NewEvent(typ, map[string]int{"n": n})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCommitIsAtomic(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := inspect(t, mr.Addr())
	b := newBackend(t, nsredis.Config{URL: "redis://" + mr.Addr()})
	ctx := ctxT(t)
	if err := b.Enqueue(ctx, ev(t, "INPUT", 0)); err != nil {
		t.Fatal(err)
	}
	d := mustPull(t, b)
	if got := pendingCount(t, rdb); got != 1 {
		t.Fatalf("pending after pull: %d, want 1", got)
	}

	// A failing commit writes nothing: here the dead-letter key holds the
	// wrong type, which the script detects before any write.
	if err := rdb.Set(ctx, stream+":dlq", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	out := core.Outcome{
		Emitted:     []core.Event{ev(t, "OUT", 1), ev(t, "OUT", 2)},
		DeadLetters: []core.DeadLetter{{Event: d.Event, Organ: "Oracle", Reason: core.ReasonHandlerFailed, Error: "x", Attempts: 3}},
	}
	err := b.Commit(ctx, d, out)
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Commit with a broken dead-letter key: got %v, want a WRONGTYPE error", err)
	}
	if n := streamLen(t, rdb, stream); n != 1 {
		t.Errorf("stream length after failed commit: %d, want 1 (no XADD without the XACK)", n)
	}
	if got := pendingCount(t, rdb); got != 1 {
		t.Errorf("pending after failed commit: %d, want 1 (no XACK without the XADDs)", got)
	}

	// Repaired, the same commit goes through whole.
	rdb.Del(ctx, stream+":dlq")
	if err := b.Commit(ctx, d, out); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n := streamLen(t, rdb, stream); n != 3 {
		t.Errorf("stream length after commit: %d, want 3", n)
	}
	if n := streamLen(t, rdb, stream+":dlq"); n != 1 {
		t.Errorf("dead letters after commit: %d, want 1", n)
	}
	if got := pendingCount(t, rdb); got != 0 {
		t.Errorf("pending after commit: %d, want 0", got)
	}
	for i := 1; i <= 2; i++ {
		got := mustPull(t, b)
		var p map[string]int
		if err := got.Event.DecodePayload(&p); err != nil || got.Event.Type() != "OUT" || p["n"] != i {
			t.Errorf("emitted #%d: got %s %v", i, got.Event, p)
		}
	}
}

func TestCommitOfReclaimedDeliveryWritesNothing(t *testing.T) {
	mr, rdb, now, url := clocked(t)
	slow := newBackend(t, nsredis.Config{URL: url, Consumer: "slow", ClaimMinIdle: time.Minute})
	fast := newBackend(t, nsredis.Config{URL: url, Consumer: "fast", ClaimMinIdle: time.Minute, ClaimInterval: time.Millisecond})
	ctx := ctxT(t)
	_ = slow.Enqueue(ctx, ev(t, "INPUT", 0))
	d := mustPull(t, slow)

	mr.SetTime(now.Add(2 * time.Minute)) // slow looks dead
	d2 := mustPull(t, fast)
	if d2.Event.ID() != d.Event.ID() || d2.Attempt != 2 {
		t.Fatalf("reclaimed: got %s attempt %d, want %s attempt 2", d2.Event, d2.Attempt, d.Event)
	}
	err := slow.Commit(ctx, d, core.Outcome{Emitted: []core.Event{ev(t, "OUT", 1)}})
	if !errors.Is(err, core.ErrDeliveryLost) {
		t.Fatalf("late commit by the old owner: got %v, want ErrDeliveryLost", err)
	}
	if n := streamLen(t, rdb, stream); n != 1 {
		t.Errorf("stream length after the stale commit: %d, want 1 (nothing emitted)", n)
	}
	if err := fast.Commit(ctx, d2, core.Outcome{Emitted: []core.Event{ev(t, "OUT", 1)}}); err != nil {
		t.Fatalf("commit by the new owner: %v", err)
	}
	if n, p := streamLen(t, rdb, stream), pendingCount(t, rdb); n != 2 || p != 0 {
		t.Errorf("after the new owner's commit: length %d pending %d, want 2 and 0", n, p)
	}
	if err := slow.Ack(ctx, d); !errors.Is(err, core.ErrDeliveryLost) {
		t.Errorf("Ack of an already acknowledged entry: got %v, want ErrDeliveryLost", err)
	}
}

func TestReclaimAndMaxDeliveries(t *testing.T) {
	mr, rdb, now, url := clocked(t)
	cfg := func(name string) nsredis.Config {
		return nsredis.Config{URL: url, Consumer: name, ClaimMinIdle: time.Minute, ClaimInterval: time.Millisecond, MaxDeliveries: 2}
	}
	a, b, c := newBackend(t, cfg("a")), newBackend(t, cfg("b")), newBackend(t, cfg("c"))
	ctx := ctxT(t)
	poison := ev(t, "POISON", 0)
	_ = a.Enqueue(ctx, poison)

	if d := mustPull(t, a); d.Attempt != 1 {
		t.Fatalf("first delivery attempt = %d", d.Attempt)
	}
	mustEmpty(t, b) // not idle long enough to reclaim
	mr.SetTime(now.Add(2 * time.Minute))
	if d := mustPull(t, b); d.Event.ID() != poison.ID() || d.Attempt != 2 {
		t.Fatalf("reclaim by b: %s attempt %d", d.Event, d.Attempt)
	}
	mr.SetTime(now.Add(4 * time.Minute))
	mustEmpty(t, c) // delivered twice already: dead-lettered, not delivered
	if p := pendingCount(t, rdb); p != 0 {
		t.Errorf("pending after dead-lettering: %d, want 0", p)
	}
	dls, err := c.DeadLetters(ctx, "", 10)
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters: %v %v", dls, err)
	}
	dl := dls[0]
	if dl.Reason != nsredis.ReasonMaxDeliveries || dl.Attempts != 2 || !dl.Event.Equal(poison) || dl.EntryID == "" {
		t.Errorf("dead letter: %+v", dl)
	}
}

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

func TestRedrive(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := inspect(t, mr.Addr())
	b := newBackend(t, nsredis.Config{URL: "redis://" + mr.Addr()})
	ctx := ctxT(t)
	events := []core.Event{ev(t, "A", 0), ev(t, "A", 1), ev(t, "A", 2)}
	for _, e := range events {
		_ = b.Enqueue(ctx, e)
	}
	for range events {
		d := mustPull(t, b)
		if err := b.Commit(ctx, d, core.Outcome{DeadLetters: []core.DeadLetter{{
			Event: d.Event, Organ: "Oracle", Reason: core.ReasonHandlerFailed, Error: "the omen is unclear", Attempts: 3,
		}}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.DeadLetterCount(ctx); err != nil || n != 3 {
		t.Fatalf("DeadLetterCount: %d %v", n, err)
	}
	dls, _ := b.DeadLetters(ctx, "", 10)
	if dls[0].Organ != "Oracle" || dls[0].Attempts != 3 || dls[0].Error != "the omen is unclear" || dls[0].Time.IsZero() {
		t.Errorf("dead letter fields: %+v", dls[0])
	}
	if page, _ := b.DeadLetters(ctx, dls[0].ID, 10); len(page) != 2 || page[0].ID != dls[1].ID {
		t.Errorf("paging after %s: %+v", dls[0].ID, page)
	}

	// One by id, then the rest.
	if n, err := b.Redrive(ctx, dls[1].ID); err != nil || n != 1 {
		t.Fatalf("Redrive(id): %d %v", n, err)
	}
	if d := mustPull(t, b); !d.Event.Equal(events[1]) {
		t.Errorf("redriven event: got %s, want %s (same id)", d.Event, events[1])
	}
	if n, err := b.Redrive(ctx, dls[1].ID); err == nil || n != 0 {
		t.Errorf("second Redrive of the same id: %d %v, want an error", n, err)
	}
	if n, err := b.Redrive(ctx); err != nil || n != 2 {
		t.Fatalf("Redrive(): %d %v", n, err)
	}
	if n := streamLen(t, rdb, stream+":dlq"); n != 0 {
		t.Errorf("dead letters after redrive: %d", n)
	}
	got := []string{mustPull(t, b).Event.ID(), mustPull(t, b).Event.ID()}
	if got[0] != events[0].ID() || got[1] != events[2].ID() {
		t.Errorf("redriven: %v, want %s and %s", got, events[0].ID(), events[2].ID())
	}
}

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
	// b trims to 2 entries on its first pull; 5 entries were never delivered.
	b := newBackend(t, nsredis.Config{URL: url, Consumer: "b", Batch: 1,
		Trim: nsredis.Trim{MaxLen: 2, Interval: time.Millisecond}})
	mustPull(t, b)
	left, _ := rdb.XRange(ctx, stream, "-", "+").Result()
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

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		cfg       nsredis.Config
		wantField string
	}{
		{nsredis.Config{Mode: 7}, "Mode"},
		{nsredis.Config{Block: -time.Second}, "Block"},
		{nsredis.Config{Block: time.Microsecond}, "Block"},
		{nsredis.Config{Batch: -1}, "Batch"},
		{nsredis.Config{ClaimMinIdle: -1}, "ClaimMinIdle"},
		{nsredis.Config{ClaimInterval: -1}, "ClaimInterval"},
		{nsredis.Config{MaxDeliveries: -1}, "MaxDeliveries"},
		{nsredis.Config{MaxEventBytes: -1}, "MaxEventBytes"},
		{nsredis.Config{Trim: nsredis.Trim{MaxLen: -1}}, "Trim.MaxLen"},
		{nsredis.Config{Trim: nsredis.Trim{MaxAge: -1}}, "Trim.MaxAge"},
		{nsredis.Config{Trim: nsredis.Trim{Interval: -1}}, "Trim.Interval"},
		{nsredis.Config{Mode: nsredis.ModeStream, Trim: nsredis.Trim{MaxLen: 10}}, "Trim"},
		{nsredis.Config{Stream: "s", DeadLetterStream: "s"}, "DeadLetterStream"},
		{nsredis.Config{URL: "http://localhost:6379"}, "URL"},
		{nsredis.Config{URL: "redis://localhost:6379/notadb"}, "URL"},
	}
	for _, tt := range tests {
		_, err := nsredis.New(context.Background(), tt.cfg)
		var ce *nsredis.ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.wantField {
			t.Errorf("New(%+v): got %v, want a ConfigError for %s", tt.cfg, err, tt.wantField)
		}
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	const secret = "s3cr3t-p4ss"
	urls := []string{
		"redis://user:" + secret + "@localhost:6379/notadb",
		"redis://user:" + secret + "@localhost:notaport",
		"redis://:" + secret + "@localhost:6379/0?dial_timeout=oops",
		"http://user:" + secret + "@localhost:6379",
	}
	for _, u := range urls {
		_, err := nsredis.New(context.Background(), nsredis.Config{URL: u, Logger: discard()})
		if err == nil {
			t.Errorf("New(%q) succeeded", nsredis.RedactURL(u))
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	// A server that refuses: errors from the connection hold no password.
	b, err := nsredis.New(context.Background(), nsredis.Config{URL: "redis://user:" + secret + "@127.0.0.1:1", Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Enqueue(context.Background(), ev(t, "A", 0)); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Enqueue to a dead server: %v", err)
	}
	if got := nsredis.RedactURL("redis://user:" + secret + "@host:6379/0"); got != "redis://user:xxxxx@host:6379/0" {
		t.Errorf("RedactURL = %q", got)
	}
}

// An emitted event the backend refuses for good does not block the worker:
// the Spine dead-letters the input instead of retrying the commit forever.
func TestOversizedEmittedEventDeadLettersInput(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := inspect(t, mr.Addr())
	b := newBackend(t, nsredis.Config{URL: "redis://" + mr.Addr(), MaxEventBytes: 400})
	ctx := ctxT(t)
	if err := b.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	bloat := core.OrganFunc("Bloat", []string{"SMALL"}, func(context.Context, core.Event) ([]core.Event, error) {
		return core.Emit(core.MustEvent("HUGE", map[string]string{"x": strings.Repeat("o", 500)})), nil
	})
	s, err := core.NewSpine(b, []core.Organ{bloat}, core.Config{PullTimeout: 200 * time.Millisecond, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	in := ev(t, "SMALL", 0)
	_ = b.Enqueue(ctx, in)
	if err := s.RunUntilIdle(ctx); err != nil {
		t.Fatal(err)
	}
	dls, _ := b.DeadLetters(ctx, "", 10)
	if len(dls) != 1 || dls[0].Reason != core.ReasonCommitRejected || !dls[0].Event.Equal(in) ||
		!strings.Contains(dls[0].Error, "more than MaxEventBytes (400)") {
		t.Fatalf("dead letters: %+v", dls)
	}
	if p := pendingCount(t, rdb); p != 0 {
		t.Errorf("pending: %d", p)
	}
	if n := streamLen(t, rdb, stream); n != 1 {
		t.Errorf("stream length %d: the huge event must not be in it", n)
	}
}

func TestCommitBatchEachAtomicOnItsOwn(t *testing.T) {
	mr, rdb, now, url := clocked(t)
	a := newBackend(t, nsredis.Config{URL: url, Consumer: "a", ClaimMinIdle: time.Minute, MaxEventBytes: 400})
	b := newBackend(t, nsredis.Config{URL: url, Consumer: "b", ClaimMinIdle: time.Minute, ClaimInterval: time.Millisecond})
	ctx := ctxT(t)
	for i := range 3 {
		_ = a.Enqueue(ctx, ev(t, "IN", i))
	}
	d := []core.Delivery{mustPull(t, a), mustPull(t, a), mustPull(t, a)}
	mr.SetTime(now.Add(2 * time.Minute))
	mustPull(t, b) // b reclaims all three: a's commits of them are lost

	errs := a.CommitBatch(ctx, []core.Commit{
		{Delivery: d[0], Outcome: core.Outcome{Emitted: []core.Event{ev(t, "OUT", 0)}}},
	})
	if len(errs) != 1 || !errors.Is(errs[0], core.ErrDeliveryLost) {
		t.Fatalf("commit of a reclaimed delivery: %v", errs)
	}

	// Fresh deliveries owned by a: one good, one refused (a small event,
	// then one too large), one duplicate of the good one (already
	// acknowledged by then), one good.
	rdb.Del(ctx, stream)
	a2 := newBackend(t, nsredis.Config{URL: url, Consumer: "a2", Group: "g2", MaxEventBytes: 400})
	_ = a2.Enqueue(ctx, ev(t, "IN", 10))
	_ = a2.Enqueue(ctx, ev(t, "IN", 11))
	_ = a2.Enqueue(ctx, ev(t, "IN", 12))
	g1, g2, g3 := mustPull(t, a2), mustPull(t, a2), mustPull(t, a2)
	huge := core.MustEvent("HUGE", map[string]string{"x": strings.Repeat("o", 500)})
	out10, out11, out13 := ev(t, "OUT", 10), ev(t, "OUT", 11), ev(t, "OUT", 13)
	errs = a2.CommitBatch(ctx, []core.Commit{
		{Delivery: g1, Outcome: core.Outcome{Emitted: []core.Event{out10, out11}}},
		{Delivery: g2, Outcome: core.Outcome{Emitted: []core.Event{ev(t, "OUT", 20), huge}}},
		{Delivery: g1, Outcome: core.Outcome{Emitted: []core.Event{ev(t, "OUT", 12)}}},
		{Delivery: g3, Outcome: core.Outcome{Emitted: []core.Event{out13}}},
	})
	if errs[0] != nil || !errors.Is(errs[1], core.ErrPermanent) || !errors.Is(errs[2], core.ErrDeliveryLost) || errs[3] != nil {
		t.Fatalf("batch errors: %v", errs)
	}
	msgs, _ := rdb.XRange(ctx, stream, "-", "+").Result()
	var types []string
	var outs []core.Event
	for _, m := range msgs {
		e, err := core.DecodeEvent([]byte(m.Values["event"].(string)))
		if err != nil {
			t.Fatalf("entry %s: %v", m.ID, err)
		}
		types = append(types, e.Type())
		if e.Type() == "OUT" {
			outs = append(outs, e)
		}
	}
	if want := "[IN IN IN OUT OUT OUT]"; fmt.Sprint(types) != want {
		t.Errorf("stream after the batch: %v, want %s", types, want)
	}
	for i, want := range []core.Event{out10, out11, out13} {
		if i >= len(outs) || !outs[i].Equal(want) {
			t.Errorf("emitted event %d: got %v, want %v (the refused commit's events must leave no trace)", i, outs, want)
			break
		}
	}
	pendingIDs := func(id string) int {
		p, _ := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: "g2", Start: id, End: id, Count: 1}).Result()
		return len(p)
	}
	if pendingIDs(g1.Receipt) != 0 || pendingIDs(g2.Receipt) != 1 || pendingIDs(g3.Receipt) != 0 {
		t.Errorf("pending: committed inputs %d and %d, refused input %d; want 0, 0 and 1",
			pendingIDs(g1.Receipt), pendingIDs(g3.Receipt), pendingIDs(g2.Receipt))
	}
}

// The commit script lists this consumer's pending entries in one call over
// the batch's range; when that list may be cut short, it checks the rest one
// by one. Here twenty entries are pending between the two receipts and the
// list holds six.
func TestCommitBatchOwnershipBeyondTheListedRange(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := inspect(t, mr.Addr())
	b := newBackend(t, nsredis.Config{URL: "redis://" + mr.Addr(), Batch: 1})
	ctx := ctxT(t)
	for i := range 20 {
		_ = b.Enqueue(ctx, ev(t, "IN", i))
	}
	var ds []core.Delivery
	for range 20 {
		ds = append(ds, mustPull(t, b))
	}
	errs := b.CommitBatch(ctx, []core.Commit{{Delivery: ds[0]}, {Delivery: ds[19]}, {Delivery: core.Delivery{Event: ds[5].Event, Receipt: "1-1"}}})
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], core.ErrDeliveryLost) {
		t.Fatalf("errors: %v", errs)
	}
	if p := pendingCount(t, rdb); p != 18 {
		t.Errorf("pending after committing two: %d, want 18", p)
	}
}

// A consumer never reclaims what it holds itself (a slow handler is not a dead
// worker); another consumer does.
func TestReclaimSkipsOwnHeldEntries(t *testing.T) {
	mr, _, now, url := clocked(t)
	cfg := func(name string) nsredis.Config {
		return nsredis.Config{URL: url, Consumer: name, ClaimMinIdle: time.Minute, ClaimInterval: time.Millisecond, MaxDeliveries: 2}
	}
	a, b := newBackend(t, cfg("a")), newBackend(t, cfg("b"))
	ctx := ctxT(t)
	_ = a.Enqueue(ctx, ev(t, "SLOW", 0))
	_ = a.Enqueue(ctx, ev(t, "BUFFERED", 1))
	held := mustPull(t, a) // BUFFERED waits in a's buffer
	mr.SetTime(now.Add(5 * time.Minute))
	if d := mustPull(t, a); d.Event.Type() != "BUFFERED" || d.Attempt != 1 {
		t.Fatalf("a's next pull: %s attempt %d, want its buffered event, first delivery", d.Event, d.Attempt)
	}
	mustEmpty(t, a) // nothing of its own reclaimed, nothing dead-lettered
	if n, _ := a.DeadLetterCount(ctx); n != 0 {
		t.Fatalf("dead letters: %d", n)
	}
	if d := mustPull(t, b); d.Event.ID() != held.Event.ID() && d.Event.Type() != "BUFFERED" {
		t.Fatalf("b reclaimed %s", d.Event)
	}
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
	for i := range 300 {
		if err := b.Enqueue(ctx, ev(t, "E", i)); err != nil {
			t.Fatal(err)
		}
	}
	quick := readSizes(t, b, rdb, 100, 0)
	if quick[0] != 8 || slices.Max(quick) != 16 {
		t.Errorf("reads while handing out quickly fetched %v: want 8 first, then up to 16", quick)
	}
	// 40ms a delivery: longer than the 20ms a read's entries may wait.
	slow := readSizes(t, b, rdb, 12, 40*time.Millisecond)
	if len(slow) < 3 || slow[0] >= 16 || slow[len(slow)-1] != 1 || slow[len(slow)-2] != 1 {
		t.Errorf("reads while handing out slowly fetched %v: want them to shrink to 1 entry", slow)
	}
	for i := 1; i < len(slow); i++ {
		if slow[i] > slow[i-1] {
			t.Errorf("reads while handing out slowly fetched %v: a read grew", slow)
			break
		}
	}
}

// A consumer claims no more stuck entries at a time than it would read, so
// that the rest stay for the other consumers; as long as it finds more, it
// looks again as soon as it has handed them out, not a ClaimInterval later.
func TestReclaimClaimsNoMoreThanItReads(t *testing.T) {
	mr, rdb, now, url := clocked(t)
	b := newBackend(t, nsredis.Config{URL: url, Consumer: "b", ClaimMinIdle: time.Minute, ClaimInterval: time.Hour})
	ctx := ctxT(t)
	for i := range 40 {
		_ = b.Enqueue(ctx, ev(t, "E", i))
	}
	// A consumer that read all forty, then died.
	readAs(t, rdb, "dead", 40)
	mr.SetTime(now.Add(2 * time.Minute))
	seen := map[string]bool{mustPull(t, b).Event.ID(): true}
	p, err := rdb.XPending(ctx, stream, nsredis.DefaultGroup).Result()
	if err != nil {
		t.Fatal(err)
	}
	if p.Consumers["b"] != 8 || p.Consumers["dead"] != 32 {
		t.Errorf("pending after one reclaim: %v, want b 8 (its first read count), dead 32", p.Consumers)
	}
	for i := 1; i < 40; i++ {
		d := mustPull(t, b)
		if d.Attempt != 2 || seen[d.Event.ID()] {
			t.Fatalf("pull %d: %s attempt %d, want another reclaimed entry", i, d.Event, d.Attempt)
		}
		seen[d.Event.ID()] = true
	}
	if p, _ := rdb.XPending(ctx, stream, nsredis.DefaultGroup).Result(); p.Consumers["b"] != 40 || p.Consumers["dead"] != 0 {
		t.Errorf("pending after forty pulls: %v, want all forty moved to b", p.Consumers)
	}
}

// A worker started under the consumer name of one that left entries
// pending takes them back at once, not after ClaimMinIdle.
func TestNewConsumerTakesBackItsOwnPendingEntries(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := inspect(t, mr.Addr())
	url := "redis://" + mr.Addr()
	first := newBackend(t, nsredis.Config{URL: url, Consumer: "w"})
	ctx := ctxT(t)
	var want []string
	for i := range 3 {
		e := ev(t, "E", i)
		want = append(want, e.ID())
		_ = first.Enqueue(ctx, e)
	}
	// The previous process read them and died (a plain client stands in).
	readAs(t, rdb, "w", 3)
	_ = first.Enqueue(ctx, ev(t, "NEW", 3))

	restarted := newBackend(t, nsredis.Config{URL: url, Consumer: "w", ClaimMinIdle: time.Hour})
	var got []string
	for range 3 {
		d := mustPull(t, restarted)
		if d.Attempt != 2 {
			t.Errorf("%s: attempt %d, want 2 (delivered once before)", d.Event, d.Attempt)
		}
		got = append(got, d.Event.ID())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("first pulls: %v, want the three pending entries %v", got, want)
	}
	if d := mustPull(t, restarted); d.Event.Type() != "NEW" || d.Attempt != 1 {
		t.Errorf("then: %s attempt %d, want the new entry", d.Event, d.Attempt)
	}
}
