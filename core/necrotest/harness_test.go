package necrotest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fanout emits n events of type to for each input.
func fanout(name, from, to string, n int) core.Organ {
	return core.OrganFunc(name, []string{from}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		out := make([]core.Event, n)
		for i := range out {
			out[i] = core.MustEvent(to, map[string]any{"from": e.ID(), "i": i})
		}
		return out, nil
	})
}

func sink(name string, types ...string) core.Organ {
	return core.OrganFunc(name, types, func(context.Context, core.Event) ([]core.Event, error) { return nil, nil })
}

func TestRunRecordsTheChain(t *testing.T) {
	t.Parallel()
	seed1 := core.MustEvent("ROOT", map[string]int{"seed": 1})
	seed2 := core.MustEvent("ROOT", map[string]int{"seed": 2})
	tr := necrotest.Run(t, []core.Organ{fanout("Split", "ROOT", "MID", 2), fanout("Step", "MID", "LEAF", 1), sink("Sink", "LEAF")}, seed1, seed2)

	tr.AssertTypes(t, "ROOT", "ROOT", "MID", "MID", "MID", "MID", "LEAF", "LEAF", "LEAF", "LEAF")
	tr.AssertNoDeadLetters(t)
	tr.AssertCount(t, "LEAF", 4)
	tr.AssertChain(t, seed1.ID(), "MID", "MID", "LEAF", "LEAF")
	if tr.Steps != 10 {
		t.Errorf("Steps = %d, want 10", tr.Steps)
	}
	mids := tr.Children(seed2.ID())
	if len(mids) != 2 || mids[0].Organ != "Split" || mids[0].Parent != seed2.ID() || mids[0].Depth != 1 {
		t.Fatalf("children of seed2: %+v", mids)
	}
	leaf := tr.Children(mids[1].Event.ID())
	if len(leaf) != 1 {
		t.Fatalf("children of a MID: %+v", leaf)
	}
	lineage := tr.Lineage(leaf[0].Event.ID())
	var ids []string
	for _, r := range lineage {
		ids = append(ids, r.Event.ID())
	}
	if want := []string{seed2.ID(), mids[1].Event.ID(), leaf[0].Event.ID()}; !slices.Equal(ids, want) {
		t.Errorf("lineage: got %v, want %v", ids, want)
	}
	if r, ok := tr.Find(seed1.ID()); !ok || r.Parent != "" || r.Organ != "" || !slices.Equal(r.HandledBy, []string{"Split"}) {
		t.Errorf("seed record: %+v", r)
	}
	if _, ok := tr.Find("nope"); ok {
		t.Error("Find of an unknown id succeeded")
	}
}

func TestRunIsDeterministic(t *testing.T) {
	t.Parallel()
	organs := []core.Organ{fanout("Split", "ROOT", "MID", 3), fanout("Step", "MID", "LEAF", 2), sink("Sink", "LEAF")}
	var first []string
	for i := range 5 {
		tr := necrotest.Run(t, organs, core.MustEvent("ROOT", nil), core.MustEvent("ROOT", nil))
		var shape []string
		for _, r := range tr.Records {
			shape = append(shape, strings.Repeat(">", r.Depth)+r.Event.Type()+"<-"+r.Organ)
		}
		if i == 0 {
			first = shape
		} else if !slices.Equal(shape, first) {
			t.Fatalf("run %d differs:\n%v\n%v", i, shape, first)
		}
	}
}

func TestRunRecordsDeadLetters(t *testing.T) {
	t.Parallel()
	calls := 0
	failing := core.OrganFunc("Oracle", []string{"ROOT"}, func(context.Context, core.Event) ([]core.Event, error) {
		calls++
		return nil, errors.New("the omen is unclear")
	})
	seed := core.MustEvent("ROOT", nil)
	stray := core.MustEvent("STRAY", nil)
	tr, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxAttempts: 2},
		[]core.Organ{failing, fanout("Other", "ROOT", "LEAF", 1), sink("Sink", "LEAF")}, seed, stray)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("calls: %d, want 2", calls)
	}
	dls := tr.DeadLettersFor("Oracle")
	if len(dls) != 1 || dls[0].Attempts != 2 || dls[0].Error != "the omen is unclear" || dls[0].Event.ID() != seed.ID() {
		t.Errorf("Oracle dead letters: %+v", dls)
	}
	if un := tr.DeadLettersFor(""); len(un) != 1 || un[0].Reason != core.ReasonUnroutable || un[0].Event.ID() != stray.ID() {
		t.Errorf("unroutable dead letters: %+v", un)
	}
	tr.AssertChain(t, seed.ID(), "LEAF")
	if r, _ := tr.Find(seed.ID()); !slices.Equal(r.HandledBy, []string{"Other"}) {
		t.Errorf("HandledBy = %v, want only the organ that succeeded", r.HandledBy)
	}
	if s := tr.String(); !strings.Contains(s, `DEAD ROOT organ="Oracle" reason=handler_failed attempts=2: the omen is unclear`) {
		t.Errorf("String() lacks the dead letter:\n%s", s)
	}
}

func TestRunWithMaxSteps(t *testing.T) {
	t.Parallel()
	loop := []core.Organ{fanout("Ping", "PING", "PONG", 1), fanout("Pong", "PONG", "PING", 1)}
	tr, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxSteps: 5}, loop, core.MustEvent("PING", nil))
	if !errors.Is(err, core.ErrMaxStepsExceeded) {
		t.Fatalf("err = %v, want ErrMaxStepsExceeded", err)
	}
	if tr.Steps != 5 || !errors.Is(tr.Err, core.ErrMaxStepsExceeded) {
		t.Errorf("Steps = %d, Err = %v", tr.Steps, tr.Err)
	}
	// Five handled, the sixth emitted but left unhandled.
	tr.AssertTypes(t, "PING", "PONG", "PING", "PONG", "PING", "PONG")
}

func TestRunWithRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := necrotest.RunWith(ctx, necrotest.Config{}, []core.Organ{sink("S", "A"), nil}); err == nil || !strings.Contains(err.Error(), "organ #1 is nil") {
		t.Errorf("nil organ: %v", err)
	}
	if _, err := necrotest.RunWith(ctx, necrotest.Config{}, []core.Organ{sink("S", "A"), core.OrganFunc("Scribe", []string{"A"}, nil)}); err == nil || !strings.Contains(err.Error(), `organ "Scribe" has a nil function`) {
		t.Errorf("nil function: %v", err)
	}
	if _, err := necrotest.RunWith(ctx, necrotest.Config{}, []core.Organ{sink("S", "A")}, core.Event{}); !errors.Is(err, core.ErrInvalidEvent) {
		t.Errorf("zero seed: %v", err)
	}
}

// sized returns an event of type typ whose wire form is exactly n bytes.
func sized(t *testing.T, typ string, n int) core.Event { return sizedChild(t, typ, n, core.Event{}) }

// sizedChild is sized for an event emitted while handling parent (the zero
// Event for a seed): the Spine gives it the lineage that makes it so long.
func sizedChild(t *testing.T, typ string, n int, parent core.Event) core.Event {
	t.Helper()
	init := core.EventInit{Type: typ, Payload: map[string]string{"x": ""}}
	if !parent.IsZero() {
		init.ParentID, init.CorrelationID = parent.ID(), parent.CorrelationID()
	}
	e, err := core.Build(init)
	if err != nil {
		t.Fatal(err)
	}
	pad := n - len(e.AppendJSON(nil))
	if pad < 0 {
		t.Fatalf("sized(%d): too small", n)
	}
	init.ID, init.Timestamp, init.Payload = e.ID(), e.Timestamp(), map[string]string{"x": strings.Repeat("o", pad)}
	e, err = core.Build(init)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(e.AppendJSON(nil)); got != n {
		t.Fatalf("sized(%d): %d bytes", n, got)
	}
	return e
}

// emit returns an organ named name that emits events for each ROOT.
func emit(name string, events ...core.Event) core.Organ {
	return core.OrganFunc(name, []string{"ROOT"}, func(context.Context, core.Event) ([]core.Event, error) {
		return append([]core.Event(nil), events...), nil
	})
}

// The harness refuses what the Redis backend refuses by default: an emitted
// event over 1 MiB dead-letters its input for the organ that emitted it.
func TestRunRefusesOversizedEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		max      int
		size     int
		rejected bool
	}{
		{"at the default limit", 0, necrotest.DefaultMaxEventBytes, false},
		{"a byte over the default limit", 0, necrotest.DefaultMaxEventBytes + 1, true},
		{"over a limit of its own", 500, 501, true},
		{"no limit", -1, 2 << 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seed := core.MustEvent("ROOT", nil)
			big := sizedChild(t, "BIG", tt.size, seed)
			organs := []core.Organ{emit("Quiet", core.MustEvent("SMALL", nil)), emit("Bloat", big), sink("Sink", "SMALL", "BIG")}
			tr, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxEventBytes: tt.max}, organs, seed)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.rejected {
				tr.AssertNoDeadLetters(t)
				tr.AssertChain(t, seed.ID(), "SMALL", "BIG")
				return
			}
			tr.AssertTypes(t, "ROOT") // nothing of the rejected commit
			if len(tr.DeadLetters) != 1 {
				t.Fatalf("dead letters: %+v, want one", tr.DeadLetters)
			}
			dl := tr.DeadLetters[0]
			if dl.Reason != core.ReasonCommitRejected || dl.Organ != "Bloat" || dl.Event.ID() != seed.ID() ||
				!strings.Contains(dl.Error, "more than MaxEventBytes") {
				t.Errorf("dead letter: %+v, want the seed's, %s, for Bloat", dl, core.ReasonCommitRejected)
			}
		})
	}
}

func TestRunWithRefusesOversizedSeed(t *testing.T) {
	t.Parallel()
	seed := sized(t, "ROOT", necrotest.DefaultMaxEventBytes+1)
	_, err := necrotest.RunWith(context.Background(), necrotest.Config{}, []core.Organ{sink("S", "ROOT")}, seed)
	var rej *core.RejectedEventError
	if !errors.As(err, &rej) || rej.EventID != seed.ID() ||
		!strings.HasPrefix(err.Error(), "necrotest: seed: event ROOT(") || !strings.HasSuffix(err.Error(), "more than MaxEventBytes (1048576)") {
		t.Errorf("oversized seed: got %v, want a RejectedEventError naming it", err)
	}
}
