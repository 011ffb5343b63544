package organs_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

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

// The Oracle fails ritual 3 every time: the production retry policy runs
// in virtual time, three calls 50–100 ms then 100–200 ms apart, and then
// the answer is dead-lettered for the Oracle.
func TestOracleRetryScheduleInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		all, _ := organs.All(io.Discard)
		all[2] = organs.FailEvery(all[2], 3)
		seed := organs.SummonRitual.MustNew(organs.Ritual{Number: 3, Seeker: "Mina", Question: "Is anyone there?"})
		tr, err := necrotest.RunWith(context.Background(), necrotest.Config{Retry: &core.RetryPolicy{}}, all, seed)
		if err != nil {
			t.Fatal(err)
		}
		tr.RequireCount(t, "ANSWER_GENERATED", 1)
		calls := tr.CallsOf("Oracle", tr.OfType("ANSWER_GENERATED")[0].Event.ID())
		if len(calls) != 3 {
			t.Fatalf("%d calls of the Oracle, want 3: %+v", len(calls), calls)
		}
		for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
			if gap := calls[i+1].At - calls[i].At; gap < want/2 || gap > want {
				t.Errorf("wait before call %d: %v, want %v–%v", i+2, gap, want/2, want)
			}
		}
		if dls := tr.DeadLettersFor("Oracle"); len(dls) != 1 || dls[0].Attempts != 3 || !strings.Contains(dls[0].Error, "ritual 3") {
			t.Errorf("dead letters: %+v", tr.DeadLetters)
		}
	})
}

// A fake Medium that is silent twice, then always gives the same answer:
// the Oracle reads the fake's answer, after two retries.
func TestWithAFakeMedium(t *testing.T) {
	all, _ := organs.All(io.Discard)
	medium := necrotest.NewFake("Medium").FailFirst(2, nil).Do(func(_ context.Context, e core.Event) ([]core.Event, error) {
		a, err := organs.SpiritAppeared.Decode(e)
		if err != nil {
			return nil, err
		}
		return core.Emit(organs.AnswerGenerated.MustNew(organs.Reply{Apparition: a, Answer: "Ask the fake."})), nil
	})
	seed := organs.SummonRitual.MustNew(organs.Ritual{Number: 1, Seeker: "Mina", Question: "Is anyone there?"})
	tr := necrotest.Run(t, necrotest.Replace(t, all, medium), seed)
	medium.AssertTimes(t, 3)
	tr.RequireChain(t, seed.ID(), "SPIRIT_APPEARED", "ANSWER_GENERATED", "OMEN_REVEALED")
	answer := tr.OfType("ANSWER_GENERATED")[0]
	if omens := necrotest.RequireEmitted(t, tr, answer.Event.ID(), organs.OmenRevealed); omens[0].Answer != "Ask the fake." {
		t.Errorf("the Oracle read %q", omens[0].Answer)
	}
}

// Three rituals, the third failing at the Oracle, as a golden trace and a
// picture (testdata/seance.golden and seance.mmd; go test -update rewrites
// both). The README shows the picture.
func TestGoldenSeance(t *testing.T) {
	all, _ := organs.All(io.Discard)
	all[2] = organs.FailEvery(all[2], 3)
	var seeds []core.Event
	for i, q := range []string{"Will the harvest be kind this year?", "Who walks the east corridor at midnight?", "Should I open the letter from my brother?"} {
		seeds = append(seeds, organs.SummonRitual.MustNew(organs.Ritual{Number: i + 1, Seeker: "Mina", Question: q}))
	}
	tr := necrotest.Run(t, all, seeds...)
	tr.Golden(t, "testdata/seance.golden")
	golden(t, "testdata/seance.mmd", tr.Mermaid())
}

// golden compares got with the file at path, or writes it under -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n%s\nwant:\n%s", path, got, want)
	}
}

// Two rituals exported from a real Redis run of the séance (its Oracle
// failing every 3rd ritual) with `necro trace … --format export`: they
// replay through today's organs without a difference; through an Oracle
// that no longer fails, ritual 3 gains its omen and loses its dead letter.
// To record them again:
//
//	go run ./apps/seance/cmd -backend redis -rituals 3 -fail-organ Oracle -fail-every 3
//	go run ./necro trace necrostack:seance SEED_ID --format export > apps/seance/organs/testdata/ritual-3.chain.json
func TestReplayRecordedRituals(t *testing.T) {
	faulty := func() []core.Organ {
		all, _ := organs.All(io.Discard)
		all[2] = organs.FailEvery(all[2], 3)
		return all
	}
	necrotest.Replay(t, faulty(), "testdata/ritual-1.chain.json")
	necrotest.Replay(t, faulty(), "testdata/ritual-3.chain.json")

	recorded, err := necrotest.LoadChain("testdata/ritual-3.chain.json")
	if err != nil {
		t.Fatal(err)
	}
	fixed, _ := organs.All(io.Discard)
	_, diff, err := necrotest.ReplayWith(context.Background(), necrotest.Config{}, fixed, recorded)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(diff, "+       e4 OMEN_REVEALED") || !strings.Contains(diff, "- dead e3 ANSWER_GENERATED organ=Oracle reason=handler_failed attempts=3") {
		t.Errorf("replay through a fixed Oracle:\n%s", diff)
	}
}
