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

// A dead-lettered event emitted by an organ keeps its lineage through the
// dead-letter stream and a redrive: the same id, parent, chain, key and
// headers.
func TestRedriveKeepsLineage(t *testing.T) {
	mr := miniredis.RunT(t)
	b := newBackend(t, nsredis.Config{URL: "redis://" + mr.Addr()})
	ctx := ctxT(t)
	seed := ev(t, "A", 0)
	child, err := core.Build(core.EventInit{Type: "B", ParentID: seed.ID(), CorrelationID: seed.ID(), Key: "k",
		Headers: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.DeadLetter(ctx, core.DeadLetter{Event: child, Organ: "Oracle", Reason: core.ReasonHandlerFailed}); err != nil {
		t.Fatal(err)
	}
	dls, err := b.DeadLetters(ctx, "", 10)
	if err != nil || len(dls) != 1 || !dls[0].Event.Equal(child) {
		t.Fatalf("dead letters %+v (%v): want the child, lineage and all", dls, err)
	}
	if n, err := b.Redrive(ctx); err != nil || n != 1 {
		t.Fatalf("Redrive: %d %v", n, err)
	}
	d := mustPull(t, b)
	if !d.Event.Equal(child) || d.Event.ParentID() != seed.ID() || d.Event.CorrelationID() != seed.ID() ||
		d.Event.Key() != "k" || d.Event.Header("traceparent") == "" {
		t.Errorf("redriven: %s parent %q chain %q key %q; want the child as it was", d.Event, d.Event.ParentID(), d.Event.CorrelationID(), d.Event.Key())
	}
}
