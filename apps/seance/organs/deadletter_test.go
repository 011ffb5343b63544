package organs_test

import (
	"testing"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/core"
)

func TestDescribeDeadLetter(t *testing.T) {
	t.Parallel()
	of := func(seance string, n int) core.Event {
		return mustNew(t, organs.AnswerGenerated, organs.Reply{Apparition: organs.Apparition{
			Ritual: organs.Ritual{Number: n, Seeker: "Mina", Question: "Is anyone there?", Seance: seance},
			Spirit: organs.Spirit{Name: "Banquo", Epithet: "the Uninvited Guest"},
		}, Answer: "Soon."})
	}
	failed := func(e core.Event) core.DeadLetter {
		return core.DeadLetter{Event: e, Organ: "Oracle", Reason: core.ReasonHandlerFailed, Error: "boom", Attempts: 3}
	}
	tests := []struct {
		name   string
		dl     core.DeadLetter
		seance string
		want   string
		own    bool
	}{
		{"a ritual of the séance", failed(of("s1", 3)), "s1", "ANSWER_GENERATED organ=Oracle reason=handler_failed: boom (ritual 3)", true},
		{"a ritual of a séance without id", failed(of("", 3)), "", "ANSWER_GENERATED organ=Oracle reason=handler_failed: boom (ritual 3)", true},
		{"a ritual of another séance", failed(of("s2", 4)), "s1", "ANSWER_GENERATED organ=Oracle reason=handler_failed: boom (ritual 4 of séance s2)", false},
		{"a ritual without id, seen from a séance", failed(of("", 4)), "s1", "ANSWER_GENERATED organ=Oracle reason=handler_failed: boom (ritual 4 of a séance without id)", false},
		{"an event of another chain", core.DeadLetter{Event: core.MustEvent("ORDER_PLACED", nil), Reason: core.ReasonUnroutable, Error: "no organ"},
			"s1", "ORDER_PLACED reason=unroutable: no organ", false},
		{"no event", core.DeadLetter{Reason: "malformed", Error: "not JSON"}, "", "an entry that is not an event reason=malformed: not JSON", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, own := organs.DescribeDeadLetter(tt.dl, tt.seance); got != tt.want || own != tt.own {
				t.Errorf("DescribeDeadLetter = %q, %t; want %q, %t", got, own, tt.want, tt.own)
			}
		})
	}
}
