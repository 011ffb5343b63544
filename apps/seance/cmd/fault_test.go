package main

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
	var (
		e   core.Event
		err error
	)
	switch name := core.OrganName(o); name {
	case "Summoner":
		e, err = organs.SummonRitual.New(r)
	case "Medium":
		e, err = organs.SpiritAppeared.New(a)
	case "Oracle":
		e, err = organs.AnswerGenerated.New(reply)
	case "Scribe":
		e, err = organs.OmenRevealed.New(organs.Reading{Reply: reply, Omen: "The candle flame bends toward the door."})
	default:
		t.Fatalf("no input for organ %q", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

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
			faulty := failEvery(tt.every)(plain)
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
					case !errors.Is(err, errInjectedFault):
						t.Errorf("ritual %d: error %q does not match errInjectedFault", n, err)
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

// TestFailEveryBadEvent checks that an event without a ritual reaches the
// organ, which refuses it for good, rather than fail as injected.
func TestFailEveryBadEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   core.Event
	}{
		{"number 0", core.MustEvent("SUMMON_RITUAL", map[string]any{"number": 0, "seeker": "Mina", "question": "Why?"})},
		{"payload of the wrong shape", core.MustEvent("SUMMON_RITUAL", map[string]any{"number": "two"})},
	}
	faulty := failEvery(1)(organs.Summoner{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := faulty.Handle(context.Background(), tt.in)
			if !errors.Is(err, core.ErrPermanent) || errors.Is(err, errInjectedFault) {
				t.Errorf("error %v: want the Summoner's own permanent error", err)
			}
		})
	}
}

func TestFaultApply(t *testing.T) {
	t.Parallel()
	all, _ := organs.All(io.Discard)
	if got := (fault{}).apply(all); !slices.Equal(got, all) {
		t.Errorf("the zero fault changed the organs: %v", got)
	}
	got := fault{organ: "Medium", every: 2}.apply(all)
	for i, o := range got {
		name := core.OrganName(o)
		_, wrapped := o.(*faultyOrgan)
		if name != core.OrganName(all[i]) || wrapped != (name == "Medium") {
			t.Errorf("organ %d: %s (%T), want %s, wrapped only if Medium", i, name, o, core.OrganName(all[i]))
		}
	}
	if !slices.Equal(organNames(), []string{"Summoner", "Medium", "Oracle", "Scribe"}) {
		t.Errorf("organNames() = %v", organNames())
	}
}

func TestOrdinal(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{1: "", 2: "2nd ", 3: "3rd ", 4: "4th ", 10: "10th ", 11: "11th ", 12: "12th ",
		13: "13th ", 21: "21st ", 22: "22nd ", 23: "23rd ", 101: "101st ", 111: "111th ", 112: "112th "} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestRunFault runs séances on memory with a fault: the rituals it hits are
// dead-lettered for the organ after three attempts, the others complete,
// and the run fails listing them.
func TestRunFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		args        []string
		wantOmens   []int
		wantSummary string
		wantStderr  []string
	}{
		{
			name:        "Oracle every 3rd",
			args:        []string{"-rituals", "6", "-fail-organ", "Oracle", "-fail-every", "3"},
			wantOmens:   []int{1, 2, 4, 5},
			wantSummary: "6 rituals, 4 omens, 2 dead letters",
			wantStderr: []string{
				"seance: incomplete: no omen for rituals [3 6]\n",
				"seance: dead letter: ANSWER_GENERATED organ=Oracle reason=handler_failed: injected fault: Oracle fails on every 3rd ritual (ritual 3) (ritual 3)\n",
				"seance: dead letter: ANSWER_GENERATED organ=Oracle reason=handler_failed: injected fault: Oracle fails on every 3rd ritual (ritual 6) (ritual 6)\n",
				"seance: 2 dead letters of this séance\n",
				`"msg":"fault injected: Oracle fails on every 3rd ritual"`,
			},
		},
		{
			name:        "Summoner every ritual",
			args:        []string{"-rituals", "2", "-fail-organ", "Summoner", "-fail-every", "1"},
			wantSummary: "2 rituals, 0 omens, 2 dead letters",
			wantStderr: []string{
				"seance: incomplete: no omen for rituals [1 2]\n",
				"seance: dead letter: SUMMON_RITUAL organ=Summoner reason=handler_failed: injected fault: Summoner fails on every ritual (ritual 2) (ritual 2)\n",
			},
		},
		{
			name:        "Scribe every 2nd, concurrent",
			args:        []string{"-rituals", "5", "-fail-organ", "Scribe", "-fail-every", "2", "-concurrency", "4"},
			wantOmens:   []int{1, 3, 5},
			wantSummary: "5 rituals, 3 omens, 2 dead letters",
			wantStderr:  []string{"seance: dead letter: OMEN_REVEALED organ=Scribe reason=handler_failed: injected fault: Scribe fails on every 2nd ritual (ritual 4) (ritual 4)\n"},
		},
		{
			name:        "a fault no ritual reaches",
			args:        []string{"-rituals", "4", "-fail-organ", "Medium", "-fail-every", "5"},
			wantOmens:   []int{1, 2, 3, 4},
			wantSummary: "4 rituals, 4 omens",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, noEnv, &stdout, &stderr)
			wantCode := exitFail
			if tt.wantStderr == nil {
				wantCode = exitOK
			}
			if code != wantCode {
				t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tt.args, code, wantCode, stderr.String())
			}
			s := parse(t, stdout.String())
			var got []int
			for id, c := range s.rituals {
				if c != 1 {
					t.Errorf("ritual %d printed %d times, want once", id.number, c)
				}
				got = append(got, id.number)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.wantOmens) || s.omens != len(tt.wantOmens) {
				t.Errorf("omens of rituals %v (%d in all), want %v", got, s.omens, tt.wantOmens)
			}
			if s.summary != tt.wantSummary {
				t.Errorf("summary: got %q, want %q", s.summary, tt.wantSummary)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
				}
			}
			for _, n := range tt.wantOmens {
				// Failed attempts are logged with their ritual: none for
				// a ritual that completed.
				if strings.Contains(stderr.String(), fmt.Sprintf("(ritual %d)\"", n)) {
					t.Errorf("ritual %d failed, want it untouched:\n%s", n, stderr.String())
				}
			}
		})
	}
}
