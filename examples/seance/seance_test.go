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

	tr.RequireChain(t, seed.ID(), "SPIRIT_APPEARED") // Require… stops the test; Assert… goes on
	tr.AssertNoDeadLetters(t)
	got := tr.OfType("SPIRIT_APPEARED") // Record: Event, Parent, Organ, Depth, HandledBy
	if got[0].Organ != "Summoner" || got[0].Parent != seed.ID() {
		t.Errorf("apparition: %+v", got[0])
	}
	spirits := necrotest.RequireEmitted(t, tr, seed.ID(), SpiritAppeared) // the typed payloads
	if spirits[0].Name != "Banquo" {
		t.Errorf("spirit: %+v", spirits[0])
	}
}

func TestSummonerAlone(t *testing.T) {
	seed := SummonRitual.MustNew(Ritual{Seeker: "Mina", Question: "Who walks?"})
	out, err := necrotest.Handle(t, Summoner{}, seed) // one organ, one call, as the Spine makes it
	if err != nil || len(out) != 1 || out[0].Type() != "SPIRIT_APPEARED" {
		t.Fatalf("Summoner: %v, %v", out, err)
	}
}
