package seance

import (
	"io"
	"testing"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func TestSeance(t *testing.T) {
	seed := SummonRitual.MustNew(Ritual{Seeker: "Mina", Question: "Who walks?"})
	tr := necrotest.Run(t, []core.Organ{Summoner{}, Scribe(io.Discard)}, seed)

	tr.AssertChain(t, seed.ID(), "SPIRIT_APPEARED")
	tr.AssertNoDeadLetters(t)
	got := tr.OfType("SPIRIT_APPEARED") // Record: Event, Parent, Organ, Depth, HandledBy
	if len(got) != 1 || got[0].Organ != "Summoner" || got[0].Parent != seed.ID() {
		t.Fatalf("apparitions: %+v", got)
	}
	spirit, err := SpiritAppeared.Decode(got[0].Event)
	if err != nil || spirit.Name != "Banquo" {
		t.Errorf("spirit: %+v, %v", spirit, err)
	}
}
