package necrotest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// Every event the Spine commits carries its lineage: parent_id is the
// event whose handling emitted it, correlation_id the chain's seed, and the
// key is inherited unless the organ set its own, across fan-out, retries
// and dead letters.
func TestLineage(t *testing.T) {
	t.Parallel()
	var fails atomic.Int32
	flaky := core.OrganFunc("Flaky", []string{"MID"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		if fails.Add(1) == 1 {
			return nil, errors.New("once")
		}
		leaf, err := core.Build(core.EventInit{Type: "LEAF", Payload: e.Payload()})
		return core.Emit(leaf), err
	})
	rekey := core.OrganFunc("Rekey", []string{"MID"}, func(context.Context, core.Event) ([]core.Event, error) {
		own, err := core.Build(core.EventInit{Type: "OWN", Key: "own-key"})
		return core.Emit(own), err
	})
	broken := core.OrganFunc("Broken", []string{"LEAF"}, func(context.Context, core.Event) ([]core.Event, error) {
		return nil, core.Permanent(errors.New("never"))
	})
	seeds := []core.Event{mustBuild(t, core.EventInit{Type: "ROOT", Key: "k1"}), mustBuild(t, core.EventInit{Type: "ROOT", Key: "k2"})}
	tr := necrotest.Run(t, []core.Organ{fanout("Split", "ROOT", "MID", 2), flaky, rekey, broken, sink("Sink", "OWN")}, seeds...)

	chainOf := map[string]string{} // event id → its seed's id
	keyOf := map[string]string{}
	for _, s := range seeds {
		chainOf[s.ID()], keyOf[s.ID()] = s.ID(), s.Key()
	}
	for _, r := range tr.Records {
		e := r.Event
		if r.Parent == "" {
			if e.ParentID() != "" || e.CorrelationID() != e.ID() {
				t.Errorf("seed %s: parent %q, chain %q; want none, and its own id", e, e.ParentID(), e.CorrelationID())
			}
			continue
		}
		seed := chainOf[r.Parent]
		chainOf[e.ID()] = seed
		wantKey := keyOf[r.Parent]
		if r.Organ == "Rekey" {
			wantKey = "own-key"
		}
		keyOf[e.ID()] = wantKey
		if e.ParentID() != r.Parent || e.CorrelationID() != seed || e.Key() != wantKey {
			t.Errorf("%s emitted by %s from %s: parent %q, chain %q, key %q; want %q, %q, %q",
				e, r.Organ, r.Parent, e.ParentID(), e.CorrelationID(), e.Key(), r.Parent, seed, wantKey)
		}
	}
	tr.AssertCount(t, "LEAF", 4)
	if len(tr.DeadLetters) != 4 {
		t.Fatalf("%d dead letters, want 4 (every LEAF, by Broken)", len(tr.DeadLetters))
	}
	for _, dl := range tr.DeadLetters {
		if seed := chainOf[dl.Event.ID()]; dl.Event.CorrelationID() != seed || dl.Event.ParentID() == "" {
			t.Errorf("dead letter of %s: chain %q, parent %q; want chain %q and its parent", dl.Event, dl.Event.CorrelationID(), dl.Event.ParentID(), seed)
		}
	}
}

func mustBuild(t *testing.T, init core.EventInit) core.Event {
	t.Helper()
	e, err := core.Build(init)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
