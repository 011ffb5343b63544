package redis_test

import (
	"testing"

	"github.com/alicebob/miniredis/v2"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

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
