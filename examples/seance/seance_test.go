package seance

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

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

func TestRetryScheduleInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) { // time is virtual in here: backoffs pass at once
		silent := 2
		medium := core.OrganFunc("Medium", []string{"SPIRIT_APPEARED"}, func(context.Context, core.Event) ([]core.Event, error) {
			if silent--; silent >= 0 {
				return nil, errors.New("the spirit is silent")
			}
			return nil, nil
		})
		seed := SummonRitual.MustNew(Ritual{Seeker: "Mina", Question: "Who walks?"})
		tr, err := necrotest.RunWith(context.Background(), necrotest.Config{Retry: &core.RetryPolicy{}}, // production backoff
			[]core.Organ{Summoner{}, medium}, seed)
		if err != nil {
			t.Fatal(err)
		}
		tr.RequireCount(t, "SPIRIT_APPEARED", 1)
		calls := tr.CallsOf("Medium", tr.OfType("SPIRIT_APPEARED")[0].Event.ID())
		if len(calls) != 3 || calls[1].At-calls[0].At < 50*time.Millisecond || calls[2].At-calls[1].At < 100*time.Millisecond {
			t.Errorf("calls: %+v, want three, 50-100 ms then 100-200 ms apart", calls)
		}
	})
}
