package memory_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
)

// On the memory backend, every event an organ sees carries the lineage the
// Spine gave it, across fan-out and retries; a dead letter keeps its
// event's lineage.
func TestLineage(t *testing.T) {
	b := memory.New(memory.Config{})
	defer b.Close()
	var mu sync.Mutex
	seen := map[string]core.Event{}
	see := func(e core.Event) {
		mu.Lock()
		seen[e.ID()] = e
		mu.Unlock()
	}
	split := core.OrganFunc("Split", []string{"ROOT"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		see(e)
		return core.Emit(core.MustEvent("MID", nil), core.MustEvent("MID", nil)), nil
	})
	tries := map[string]int{}
	flaky := core.OrganFunc("Flaky", []string{"MID"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		see(e)
		mu.Lock()
		tries[e.ID()]++
		first := tries[e.ID()] == 1
		mu.Unlock()
		if first {
			return nil, errors.New("once")
		}
		return core.Emit(core.MustEvent("LEAF", nil)), nil
	})
	broken := core.OrganFunc("Broken", []string{"LEAF"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		see(e)
		return nil, core.Permanent(errors.New("never"))
	})
	s, err := core.NewSpine(b, []core.Organ{split, flaky, broken}, core.Config{PullTimeout: 20 * time.Millisecond,
		Retry: core.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	seed, err := core.Build(core.EventInit{Type: "ROOT", Key: "order-7"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	if err := s.RunUntilIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 5 {
		t.Fatalf("%d events seen, want 5 (the seed, 2 MID, 2 LEAF)", len(seen))
	}
	for _, e := range seen {
		switch e.Type() {
		case "ROOT":
			if e.ParentID() != "" || e.CorrelationID() != seed.ID() {
				t.Errorf("the seed: parent %q, chain %q", e.ParentID(), e.CorrelationID())
			}
		case "MID", "LEAF":
			parent, ok := seen[e.ParentID()]
			wantParent := map[string]string{"MID": "ROOT", "LEAF": "MID"}[e.Type()]
			if !ok || parent.Type() != wantParent || e.CorrelationID() != seed.ID() || e.Key() != "order-7" {
				t.Errorf("%s: parent %q, chain %q, key %q; want a %s, the seed's chain and key", e, e.ParentID(), e.CorrelationID(), e.Key(), wantParent)
			}
		}
	}
	dead := b.DeadLetters()
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dead))
	}
	for _, dl := range dead {
		if want := seen[dl.Event.ID()]; !dl.Event.Equal(want) || dl.Event.CorrelationID() != seed.ID() {
			t.Errorf("dead letter %s lost its lineage: parent %q, chain %q", dl.Event, dl.Event.ParentID(), dl.Event.CorrelationID())
		}
	}
}
