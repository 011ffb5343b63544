package necrotest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// Each Require… stops the test on a wrong expectation, with the trace in
// its message, and lets it go on on a right one.
func TestRequireStopsTheTest(t *testing.T) {
	t.Parallel()
	seed := core.MustEvent("ROOT", nil)
	tr := necrotest.Run(t, []core.Organ{fanout("Split", "ROOT", "LEAF", 2), sink("Sink", "LEAF")}, seed)
	for name, c := range map[string]struct{ wrong, right func(tb testing.TB) }{
		"types": {func(tb testing.TB) { tr.RequireTypes(tb, "ROOT", "LEAF") }, func(tb testing.TB) { tr.RequireTypes(tb, "ROOT", "LEAF", "LEAF") }},
		"count": {func(tb testing.TB) { tr.RequireCount(tb, "LEAF", 3) }, func(tb testing.TB) { tr.RequireCount(tb, "LEAF", 2) }},
		"chain": {func(tb testing.TB) { tr.RequireChain(tb, seed.ID(), "LEAF") }, func(tb testing.TB) { tr.RequireChain(tb, seed.ID(), "LEAF", "LEAF") }},
		"dead letters": {
			func(tb testing.TB) {
				bad := necrotest.Run(t, []core.Organ{failing("Broken", "ROOT")}, core.MustEvent("ROOT", nil))
				bad.RequireNoDeadLetters(tb)
			},
			func(tb testing.TB) { tr.RequireNoDeadLetters(tb) },
		},
	} {
		failed, stopped := stops(t, c.wrong)
		if !stopped || len(failed) != 1 || !strings.Contains(failed[0], "trace:\nROOT") {
			t.Errorf("%s, wrong: stopped %v, failures %q; want it stopped with the trace", name, stopped, failed)
		}
		if failed, stopped := stops(t, c.right); stopped || len(failed) != 0 {
			t.Errorf("%s, right: stopped %v, failures %q; want neither", name, stopped, failed)
		}
	}
}

type order struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

var (
	orderPlaced = core.NewKind[order]("ORDER_PLACED")
	lineBilled  = core.NewKind[order]("LINE_BILLED")
)

// RequireEmitted returns the typed payloads emitted for a parent, and stops
// the test when there are none or the parent is not in the trace.
func TestRequireEmitted(t *testing.T) {
	t.Parallel()
	biller := core.OrganFunc("Biller", []string{orderPlaced.Type()}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		o, err := orderPlaced.Decode(e)
		if err != nil {
			return nil, err
		}
		var out []core.Event
		for i := range 2 {
			ev, err := lineBilled.New(order{ID: o.ID, Total: o.Total + i})
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		return out, nil
	})
	seed, err := orderPlaced.New(order{ID: "o-1", Total: 40})
	if err != nil {
		t.Fatal(err)
	}
	tr := necrotest.Run(t, []core.Organ{biller, sink("Ledger", lineBilled.Type())}, seed)
	got := necrotest.RequireEmitted(t, tr, seed.ID(), lineBilled)
	if len(got) != 2 || got[0] != (order{ID: "o-1", Total: 40}) || got[1] != (order{ID: "o-1", Total: 41}) {
		t.Errorf("emitted %+v", got)
	}
	for name, c := range map[string]struct {
		check func(tb testing.TB)
		want  string
	}{
		"none of that kind": {func(tb testing.TB) { necrotest.RequireEmitted(tb, tr, seed.ID(), orderPlaced) }, "no ORDER_PLACED emitted for " + seed.ID()},
		"no such parent":    {func(tb testing.TB) { necrotest.RequireEmitted(tb, tr, "nope", lineBilled) }, "no event nope in the trace"},
	} {
		failed, stopped := stops(t, c.check)
		if !stopped || len(failed) != 1 || !strings.Contains(failed[0], c.want) {
			t.Errorf("%s: stopped %v, failures %q; want it stopped saying %q", name, stopped, failed, c.want)
		}
	}
}
