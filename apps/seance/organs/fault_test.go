package organs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/core"
)

// stageInput returns the event organ o of the séance handles for ritual n.
func stageInput(t *testing.T, o core.Organ, n int) core.Event {
	t.Helper()
	r := organs.Ritual{Number: n, Seeker: "Mina", Question: "Is anyone there?", Seance: "s1"}
	a := organs.Apparition{Ritual: r, Spirit: organs.Spirit{Name: "Banquo", Epithet: "the Uninvited Guest"}}
	reply := organs.Reply{Apparition: a, Answer: "Soon."}
	switch name := core.OrganName(o); name {
	case "Summoner":
		return mustNew(t, organs.SummonRitual, r)
	case "Medium":
		return mustNew(t, organs.SpiritAppeared, a)
	case "Oracle":
		return mustNew(t, organs.AnswerGenerated, reply)
	case "Scribe":
		return mustNew(t, organs.OmenRevealed, organs.Reading{Reply: reply, Omen: "The candle flame bends toward the door."})
	default:
		t.Fatalf("no input for organ %q", name)
		return core.Event{}
	}
}

// A FaultyOrgan fails, with a retryable error naming itself and the ritual,
// on the rituals of its fault only, and otherwise emits what its organ
// emits; it keeps the organ's name and event types.
func TestFailEvery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		organ string
		every int
		fails []int // among rituals 1 to 12
		want  string
	}{
		{"Summoner", 1, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, "injected fault: Summoner fails on every ritual (ritual 7)"},
		{"Medium", 2, []int{2, 4, 6, 8, 10, 12}, "injected fault: Medium fails on every 2nd ritual (ritual 8)"},
		{"Oracle", 3, []int{3, 6, 9, 12}, "injected fault: Oracle fails on every 3rd ritual (ritual 9)"},
		{"Oracle", 10, []int{10}, "injected fault: Oracle fails on every 10th ritual (ritual 10)"},
		{"Scribe", 5, []int{5, 10}, "injected fault: Scribe fails on every 5th ritual (ritual 5)"},
		{"Medium", 13, nil, ""},
		{"Medium", 0, nil, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s every %d", tt.organ, tt.every), func(t *testing.T) {
			t.Parallel()
			all, _ := organs.All(io.Discard)
			var plain core.Organ
			for _, o := range all {
				if core.OrganName(o) == tt.organ {
					plain = o
				}
			}
			faulty := organs.FailEvery(plain, tt.every)
			if got := core.OrganName(faulty); got != tt.organ {
				t.Errorf("wrapped organ named %q, want %q", got, tt.organ)
			}
			if got, want := faulty.Listens(), plain.Listens(); !slices.Equal(got, want) {
				t.Errorf("wrapped organ listens to %v, want %v", got, want)
			}
			var failed []int
			for n := 1; n <= 12; n++ {
				in := stageInput(t, plain, n)
				got, err := faulty.Handle(context.Background(), in)
				if err != nil {
					failed = append(failed, n)
					switch {
					case errors.Is(err, core.ErrPermanent):
						t.Errorf("ritual %d: error %q is permanent, want it retried", n, err)
					case !errors.Is(err, organs.ErrInjectedFault):
						t.Errorf("ritual %d: error %q does not match ErrInjectedFault", n, err)
					case !strings.Contains(err.Error(), fmt.Sprintf(" %s fails on ", tt.organ)) ||
						!strings.HasSuffix(err.Error(), fmt.Sprintf("(ritual %d)", n)):
						t.Errorf("ritual %d: error %q does not name the organ and the ritual", n, err)
					case strings.Contains(tt.want, fmt.Sprintf("(ritual %d)", n)) && err.Error() != tt.want:
						t.Errorf("ritual %d: error %q, want %q", n, err, tt.want)
					}
					if got != nil {
						t.Errorf("ritual %d: emitted %v along with the error, want nothing", n, got)
					}
					continue
				}
				// Others go through: the same payloads as the organ's own.
				want, werr := plain.Handle(context.Background(), in)
				if werr != nil || len(got) != len(want) {
					t.Fatalf("ritual %d: wrapped emitted %d events, organ %d (%v)", n, len(got), len(want), werr)
				}
				for i := range got {
					if got[i].Type() != want[i].Type() || !bytes.Equal(got[i].Payload(), want[i].Payload()) {
						t.Errorf("ritual %d: wrapped emitted %s, organ %s", n, got[i].Payload(), want[i].Payload())
					}
				}
			}
			if !slices.Equal(failed, tt.fails) {
				t.Errorf("failed on rituals %v, want %v", failed, tt.fails)
			}
		})
	}
}

// An event without a ritual reaches the organ, which refuses it for good,
// rather than fail as injected.
func TestFailEveryBadEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   core.Event
	}{
		{"number 0", core.MustEvent("SUMMON_RITUAL", map[string]any{"number": 0, "seeker": "Mina", "question": "Why?"})},
		{"payload of the wrong shape", core.MustEvent("SUMMON_RITUAL", map[string]any{"number": "two"})},
	}
	faulty := organs.FailEvery(organs.Summoner{}, 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := faulty.Handle(context.Background(), tt.in)
			if !errors.Is(err, core.ErrPermanent) || errors.Is(err, organs.ErrInjectedFault) {
				t.Errorf("error %v: want the Summoner's own permanent error", err)
			}
		})
	}
}

// The description reads as English for every n.
func TestFaultString(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{1: "every ritual", 2: "every 2nd ritual", 3: "every 3rd ritual", 4: "every 4th ritual",
		10: "every 10th ritual", 11: "every 11th ritual", 12: "every 12th ritual", 13: "every 13th ritual",
		21: "every 21st ritual", 22: "every 22nd ritual", 23: "every 23rd ritual", 101: "every 101st ritual",
		111: "every 111th ritual", 112: "every 112th ritual"} {
		if got := organs.FailEvery(organs.Oracle{}, n).String(); got != "Oracle fails on "+want {
			t.Errorf("FailEvery(Oracle, %d) = %q, want %q", n, got, "Oracle fails on "+want)
		}
	}
}
