package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/worker"
)

// TestRunFault runs séances on memory with a fault: the rituals it hits are
// dead-lettered for the organ after three attempts, the others complete,
// and the run fails naming them. The fault is logged as a warning.
func TestRunFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		args        []string
		wantOmens   []int
		wantSummary string
		wantStderr  []string // lines or JSON fragments; none: the run passes
	}{
		{
			name:        "Oracle every 3rd",
			args:        []string{"-rituals", "6", "-fail-organ", "Oracle", "-fail-every", "3"},
			wantOmens:   []int{1, 2, 4, 5},
			wantSummary: "6 rituals, 4 omens, 2 dead letters",
			wantStderr: []string{
				"seance: dead letter: ANSWER_GENERATED organ=Oracle reason=handler_failed: injected fault: Oracle fails on every 3rd ritual (ritual 3) (ritual 3)\n",
				"seance: dead letter: ANSWER_GENERATED organ=Oracle reason=handler_failed: injected fault: Oracle fails on every 3rd ritual (ritual 6) (ritual 6)\n",
				"seance: incomplete: no omen for rituals [3 6]; 2 dead letters of this séance\n",
				`"msg":"fault injected: Oracle fails on every 3rd ritual","organ":"Oracle","every":3}`,
			},
		},
		{
			name:        "Summoner every ritual",
			args:        []string{"-rituals", "2", "-fail-organ", "Summoner", "-fail-every", "1"},
			wantSummary: "2 rituals, 0 omens, 2 dead letters",
			wantStderr: []string{
				"seance: dead letter: SUMMON_RITUAL organ=Summoner reason=handler_failed: injected fault: Summoner fails on every ritual (ritual 2) (ritual 2)\n",
				"seance: incomplete: no omen for rituals [1 2]; 2 dead letters of this séance\n",
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
			code, stdout, stderr := run(context.Background(), tt.args...)
			wantCode := worker.ExitFailed
			if tt.wantStderr == nil {
				wantCode = worker.ExitOK
			}
			if code != wantCode {
				t.Errorf("seance %q: exit %d, want %d; stderr:\n%s", tt.args, code, wantCode, stderr)
			}
			s := parse(t, stdout)
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
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr)
				}
			}
			if !strings.Contains(stderr, `"msg":"fault injected: `) {
				t.Errorf("the fault was not logged:\n%s", stderr)
			}
			for _, n := range tt.wantOmens {
				// Failed attempts are logged with their ritual: none for
				// a ritual that completed.
				if strings.Contains(stderr, fmt.Sprintf("(ritual %d)\"", n)) {
					t.Errorf("ritual %d failed, want it untouched:\n%s", n, stderr)
				}
			}
		})
	}
}
