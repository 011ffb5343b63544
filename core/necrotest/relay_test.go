package necrotest_test

import (
	"testing"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func TestRelay(t *testing.T) {
	t.Parallel()
	seed := core.MustEvent("A", map[string]int{"n": 7})
	tr := necrotest.Run(t, []core.Organ{necrotest.Relay("AB", "A", "B"), necrotest.Relay("End", "B", "")}, seed)
	tr.AssertChain(t, seed.ID(), "B")
	if b := tr.OfType("B")[0]; string(b.Event.Payload()) != `{"n":7}` || b.Organ != "AB" {
		t.Errorf("relayed event: %+v", b)
	}
}
