package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

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
	quiet := core.OrganFunc("Quiet", []string{"SMALL"}, func(context.Context, core.Event) ([]core.Event, error) {
		return core.Emit(core.MustEvent("TINY", nil)), nil
	})
	bloat := core.OrganFunc("Bloat", []string{"SMALL"}, func(context.Context, core.Event) ([]core.Event, error) {
		return core.Emit(core.MustEvent("TINY", nil), core.MustEvent("HUGE", map[string]string{"x": strings.Repeat("o", 500)})), nil
	})
	s, err := core.NewSpine(b, []core.Organ{quiet, bloat}, core.Config{PullTimeout: 200 * time.Millisecond, Logger: discard()})
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
	if dls[0].Organ != "Bloat" {
		t.Errorf("dead letter's organ: got %q, want Bloat, which emitted the huge event", dls[0].Organ)
	}
	if p := pendingCount(t, rdb); p != 0 {
		t.Errorf("pending: %d", p)
	}
	if n := streamLen(t, rdb, stream); n != 1 {
		t.Errorf("stream length %d: no event of the rejected commit must be in it", n)
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
	if rej := (*core.RejectedEventError)(nil); !errors.As(errs[1], &rej) || rej.EventID != huge.ID() {
		t.Errorf("refused commit's error %v: want a RejectedEventError naming %s", errs[1], huge)
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
