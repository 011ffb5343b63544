package organs_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func TestChain(t *testing.T) {
	t.Parallel()
	rituals := []organs.Ritual{
		{Number: 1, Seeker: "Mina", Question: "Will the harvest be kind this year?"},
		{Number: 2, Seeker: "Mina", Question: "Who walks the east corridor at midnight?"},
		{Number: 3, Seeker: "Jonathan", Question: "Should I open the letter from my brother?"},
		{Number: 4, Seeker: "Lucy", Question: "Where did the music box go?"},
	}
	seeds := make([]core.Event, len(rituals))
	for i, r := range rituals {
		seeds[i] = mustNew(t, organs.SummonRitual, r)
	}
	var out bytes.Buffer
	all, scribe := organs.All(&out)

	tr := necrotest.Run(t, all, seeds...)

	tr.AssertNoDeadLetters(t)
	tr.AssertCount(t, organs.OmenRevealed.Type(), len(rituals))
	for i, seed := range seeds {
		tr.AssertChain(t, seed.ID(), organs.SpiritAppeared.Type(), organs.AnswerGenerated.Type(), organs.OmenRevealed.Type())

		desc := tr.Descendants(seed.ID())
		if len(desc) != 3 {
			continue // AssertChain has reported it
		}
		last := desc[len(desc)-1]
		got, err := organs.OmenRevealed.Decode(last.Event)
		if err != nil {
			t.Fatalf("omen of ritual %d: %v", rituals[i].Number, err)
		}
		if got.Ritual != rituals[i] {
			t.Errorf("omen of ritual %d carries ritual %+v, want %+v", rituals[i].Number, got.Ritual, rituals[i])
		}
		if last.Organ != "Oracle" || last.Depth != 3 {
			t.Errorf("omen of ritual %d: emitted by %q at depth %d, want Oracle at depth 3", rituals[i].Number, last.Organ, last.Depth)
		}
		if rec, _ := tr.Find(last.Event.ID()); len(rec.HandledBy) != 1 || rec.HandledBy[0] != "Scribe" {
			t.Errorf("omen of ritual %d handled by %v, want [Scribe]", rituals[i].Number, rec.HandledBy)
		}
	}

	text := out.String()
	for _, r := range rituals {
		if n := strings.Count(text, r.Question); n != 1 {
			t.Errorf("Scribe wrote %q %d times, want once:\n%s", r.Question, n, text)
		}
	}
	omens := scribe.Omens()
	for _, r := range rituals {
		if omens[r.Number] != 1 {
			t.Errorf("Omens()[%d] = %d, want 1", r.Number, omens[r.Number])
		}
	}
}

func TestChainDeadLettersBadRitual(t *testing.T) {
	t.Parallel()
	good := mustNew(t, organs.SummonRitual, organs.Ritual{Number: 1, Seeker: "Mina", Question: "Is anyone there?"})
	bad := mustNew(t, organs.SummonRitual, organs.Ritual{Number: 2, Seeker: "Mina"})
	all, scribe := organs.All(&bytes.Buffer{})

	tr := necrotest.Run(t, all, good, bad)

	tr.AssertChain(t, good.ID(), organs.SpiritAppeared.Type(), organs.AnswerGenerated.Type(), organs.OmenRevealed.Type())
	tr.AssertChain(t, bad.ID())
	dls := tr.DeadLettersFor("Summoner")
	if len(dls) != 1 {
		t.Fatalf("Summoner dead letters: got %d, want 1\n%s", len(dls), tr)
	}
	if dl := dls[0]; dl.Event.ID() != bad.ID() || dl.Attempts != 1 || !strings.Contains(dl.Error, "question") {
		t.Errorf("dead letter: got event %s, %d attempts, error %q; want %s, 1 attempt (permanent), error naming question",
			dl.Event.ID(), dl.Attempts, dl.Error, bad.ID())
	}
	if got := scribe.Omens(); len(got) != 1 || got[1] != 1 {
		t.Errorf("Omens() = %v, want map[1:1]", got)
	}
}
