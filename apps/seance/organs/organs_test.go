package organs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/core"
)

var (
	ritual = organs.Ritual{Number: 1, Seeker: "Mina", Question: "Will the harvest be kind this year?"}
	spirit = organs.Spirit{Name: "Captain Ashgrove", Epithet: "lost with the Meridian"}

	apparition = organs.Apparition{Ritual: ritual, Spirit: spirit}
	reply      = organs.Reply{Apparition: apparition, Answer: "The door you knock on is already open."}
	reading    = organs.Reading{Reply: reply, Omen: "The cards fall face down, all but the Moon."}
)

func mustNew[T any](t testing.TB, k core.Kind[T], payload T) core.Event {
	t.Helper()
	e, err := k.New(payload)
	if err != nil {
		t.Fatalf("%s.New(%+v): %v", k.Type(), payload, err)
	}
	return e
}

// handleOne runs o on in and returns the payload of the single event it
// emits.
func handleOne[T any](t *testing.T, o core.Organ, in core.Event, out core.Kind[T]) T {
	t.Helper()
	got, err := o.Handle(context.Background(), in)
	if err != nil {
		t.Fatalf("%s.Handle(%s): %v", core.OrganName(o), in, err)
	}
	if len(got) != 1 {
		t.Fatalf("%s.Handle(%s) emitted %d events, want 1: %v", core.OrganName(o), in, len(got), got)
	}
	v, err := out.Decode(got[0])
	if err != nil {
		t.Fatalf("%s.Handle(%s) emitted %s: %v", core.OrganName(o), in, got[0], err)
	}
	return v
}

func TestSummoner(t *testing.T) {
	t.Parallel()
	got := handleOne(t, organs.Summoner{}, mustNew(t, organs.SummonRitual, ritual), organs.SpiritAppeared)
	if got != apparition {
		t.Errorf("Summoner: got %+v, want %+v", got, apparition)
	}
}

func TestMedium(t *testing.T) {
	t.Parallel()
	got := handleOne(t, organs.Medium{}, mustNew(t, organs.SpiritAppeared, apparition), organs.AnswerGenerated)
	if got != reply {
		t.Errorf("Medium: got %+v, want %+v", got, reply)
	}
}

func TestOracle(t *testing.T) {
	t.Parallel()
	got := handleOne(t, organs.Oracle{}, mustNew(t, organs.AnswerGenerated, reply), organs.OmenRevealed)
	if got != reading {
		t.Errorf("Oracle: got %+v, want %+v", got, reading)
	}
}

func TestScribe(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s := organs.NewScribe(&buf)
	emitted, err := s.Handle(context.Background(), mustNew(t, organs.OmenRevealed, reading))
	if err != nil {
		t.Fatalf("Scribe.Handle: %v", err)
	}
	if len(emitted) != 0 {
		t.Errorf("Scribe emitted %v, want nothing", emitted)
	}
	want := `Ritual 1 — Mina asks: "Will the harvest be kind this year?"
  Captain Ashgrove, lost with the Meridian, answers:
    "The door you knock on is already open."
  Omen: The cards fall face down, all but the Moon.

`
	if got := buf.String(); got != want {
		t.Errorf("Scribe wrote:\n%s\nwant:\n%s", got, want)
	}
	if got := s.Omens(); len(got) != 1 || got[1] != 1 {
		t.Errorf("Omens() = %v, want map[1:1]", got)
	}
}

// TestDeterministic checks that each organ gives the same payload for the
// same input, and that a different ritual number changes the omen only.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		organ core.Organ
		in    core.Event
	}{
		{organs.Summoner{}, mustNew(t, organs.SummonRitual, ritual)},
		{organs.Medium{}, mustNew(t, organs.SpiritAppeared, apparition)},
		{organs.Oracle{}, mustNew(t, organs.AnswerGenerated, reply)},
	}
	for _, tt := range tests {
		t.Run(core.OrganName(tt.organ), func(t *testing.T) {
			t.Parallel()
			first, err1 := tt.organ.Handle(context.Background(), tt.in)
			second, err2 := tt.organ.Handle(context.Background(), tt.in)
			if err1 != nil || err2 != nil {
				t.Fatalf("Handle: %v, %v", err1, err2)
			}
			if len(first) != 1 || len(second) != 1 {
				t.Fatalf("emitted %d and %d events, want 1 each", len(first), len(second))
			}
			if a, b := string(first[0].Payload()), string(second[0].Payload()); a != b {
				t.Errorf("payloads differ for the same input:\n first  %s\n second %s", a, b)
			}
			if first[0].ID() == second[0].ID() {
				t.Errorf("both emitted events have id %s, want fresh ids", first[0].ID())
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	withRitual := func(f func(*organs.Ritual)) organs.Ritual {
		r := ritual
		f(&r)
		return r
	}
	tests := []struct {
		name  string
		organ core.Organ
		in    core.Event
		field string // "" when the error is not a *FieldError
	}{
		{"empty question", organs.Summoner{},
			mustNew(t, organs.SummonRitual, withRitual(func(r *organs.Ritual) { r.Question = "" })), "question"},
		{"blank question", organs.Summoner{},
			mustNew(t, organs.SummonRitual, withRitual(func(r *organs.Ritual) { r.Question = " \t " })), "question"},
		{"long question", organs.Summoner{},
			mustNew(t, organs.SummonRitual, withRitual(func(r *organs.Ritual) {
				r.Question = strings.Repeat("ö", organs.MaxQuestionLen+1)
			})), "question"},
		{"question with a newline", organs.Summoner{},
			mustNew(t, organs.SummonRitual, withRitual(func(r *organs.Ritual) { r.Question = "why?\nwhy not?" })), "question"},
		{"empty seeker", organs.Summoner{},
			mustNew(t, organs.SummonRitual, withRitual(func(r *organs.Ritual) { r.Seeker = "" })), "seeker"},
		{"séance id with a space", organs.Summoner{},
			mustNew(t, organs.SummonRitual, withRitual(func(r *organs.Ritual) { r.Seance = "a b" })), "seance"},
		{"long séance id", organs.Summoner{},
			mustNew(t, organs.SummonRitual, withRitual(func(r *organs.Ritual) { r.Seance = strings.Repeat("x", organs.MaxSeanceLen+1) })), "seance"},
		{"no number", organs.Summoner{},
			mustNew(t, organs.SummonRitual, withRitual(func(r *organs.Ritual) { r.Number = 0 })), "number"},
		{"empty payload", organs.Summoner{}, core.MustEvent("SUMMON_RITUAL", nil), "number"},
		{"payload of the wrong shape", organs.Summoner{},
			core.MustEvent("SUMMON_RITUAL", map[string]any{"number": "one"}), ""},
		{"event of another type", organs.Summoner{}, mustNew(t, organs.SpiritAppeared, apparition), ""},
		{"question lost on the way", organs.Medium{},
			mustNew(t, organs.SpiritAppeared, organs.Apparition{Ritual: withRitual(func(r *organs.Ritual) { r.Question = "" }), Spirit: spirit}),
			"question"},
		{"no spirit", organs.Medium{},
			mustNew(t, organs.SpiritAppeared, organs.Apparition{Ritual: ritual}), "spirit.name"},
		{"no answer", organs.Oracle{},
			mustNew(t, organs.AnswerGenerated, organs.Reply{Apparition: apparition}), "answer"},
		{"no omen", organs.NewScribe(&bytes.Buffer{}),
			mustNew(t, organs.OmenRevealed, organs.Reading{Reply: reply}), "omen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := tt.organ.Handle(context.Background(), tt.in)
			if err == nil {
				t.Fatalf("%s.Handle(%s) = %v, nil; want an error", core.OrganName(tt.organ), tt.in.Payload(), out)
			}
			if !errors.Is(err, core.ErrPermanent) {
				t.Errorf("error %q is not permanent", err)
			}
			if tt.field == "" {
				return
			}
			var fe *organs.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q (%T) is not a *FieldError", err, err)
			}
			if fe.Field != tt.field {
				t.Errorf("FieldError.Field = %q, want %q (error %q)", fe.Field, tt.field, err)
			}
			if !errors.Is(err, organs.ErrInvalidPayload) {
				t.Errorf("error %q does not match ErrInvalidPayload", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name the field %q", err, tt.field)
			}
		})
	}
}

func TestScribeConcurrent(t *testing.T) {
	t.Parallel()
	const rituals, repeats = 20, 3
	var buf bytes.Buffer
	s := organs.NewScribe(&buf)
	var wg sync.WaitGroup
	for n := 1; n <= rituals; n++ {
		r := reading
		r.Number = n
		e := mustNew(t, organs.OmenRevealed, r)
		for range repeats {
			wg.Go(func() {
				if _, err := s.Handle(context.Background(), e); err != nil {
					t.Errorf("Scribe.Handle(ritual %d): %v", n, err)
				}
			})
		}
	}
	wg.Wait()
	omens := s.Omens()
	for n := 1; n <= rituals; n++ {
		if omens[n] != repeats {
			t.Errorf("Omens()[%d] = %d, want %d", n, omens[n], repeats)
		}
	}
	// Rituals never interleave: every block is whole.
	blocks := strings.Split(strings.TrimSuffix(buf.String(), "\n\n"), "\n\n")
	if len(blocks) != rituals*repeats {
		t.Fatalf("wrote %d blocks, want %d:\n%s", len(blocks), rituals*repeats, buf.String())
	}
	for _, b := range blocks {
		if lines := strings.Count(b, "\n") + 1; lines != 4 || !strings.HasPrefix(b, "Ritual ") {
			t.Errorf("block of %d lines, want 4 starting with \"Ritual \":\n%s", lines, b)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full of ghosts") }

func TestScribeWriteError(t *testing.T) {
	t.Parallel()
	s := organs.NewScribe(failingWriter{})
	_, err := s.Handle(context.Background(), mustNew(t, organs.OmenRevealed, reading))
	if err == nil {
		t.Fatal("Handle on a failing writer returned no error")
	}
	if errors.Is(err, core.ErrPermanent) {
		t.Errorf("write error %q is permanent, want it retried", err)
	}
	if got := s.Omens(); len(got) != 0 {
		t.Errorf("Omens() = %v after a failed write, want none", got)
	}
}

func TestAll(t *testing.T) {
	t.Parallel()
	all, scribe := organs.All(&bytes.Buffer{})
	var names []string
	for _, o := range all {
		names = append(names, core.OrganName(o))
	}
	if got, want := strings.Join(names, ","), "Summoner,Medium,Oracle,Scribe"; got != want {
		t.Errorf("organ names = %s, want %s", got, want)
	}
	if got := strings.Join(organs.Names(), ","); got != strings.Join(names, ",") {
		t.Errorf("Names() = %s, want %s", got, strings.Join(names, ","))
	}
	if all[len(all)-1] != core.Organ(scribe) {
		t.Errorf("All returned a Scribe that is not its last organ")
	}
}

// TestSeance checks that a séance id reaches the Scribe's header and counts,
// and changes nothing of what the spirits say.
func TestSeance(t *testing.T) {
	t.Parallel()
	tagged := reading
	tagged.Seance = "vigil-7"
	var buf bytes.Buffer
	s := organs.NewScribe(&buf)
	for _, r := range []organs.Reading{tagged, reading, tagged} {
		if _, err := s.Handle(context.Background(), mustNew(t, organs.OmenRevealed, r)); err != nil {
			t.Fatalf("Scribe.Handle: %v", err)
		}
	}
	wantHeader := `Ritual 1 (séance vigil-7) — Mina asks: "Will the harvest be kind this year?"` + "\n"
	if got := strings.Count(buf.String(), wantHeader); got != 2 {
		t.Errorf("Scribe wrote the header %q %d times, want 2:\n%s", wantHeader, got, buf.String())
	}
	tests := []struct {
		name string
		got  map[int]int
		want int
	}{
		{"OmensOf(vigil-7)", s.OmensOf("vigil-7"), 2},
		{"OmensOf(\"\")", s.OmensOf(""), 1},
		{"OmensOf(other)", s.OmensOf("other"), 0},
		{"Omens()", s.Omens(), 3},
	}
	for _, tt := range tests {
		if tt.got[1] != tt.want || len(tt.got) > 1 {
			t.Errorf("%s = %v, want map[1:%d]", tt.name, tt.got, tt.want)
		}
	}

	// The same ritual in another séance meets the same spirit, hears the
	// same answer and sees the same omen.
	summons := tagged.Ritual
	a := handleOne(t, organs.Summoner{}, mustNew(t, organs.SummonRitual, summons), organs.SpiritAppeared)
	r := handleOne(t, organs.Medium{}, mustNew(t, organs.SpiritAppeared, a), organs.AnswerGenerated)
	got := handleOne(t, organs.Oracle{}, mustNew(t, organs.AnswerGenerated, r), organs.OmenRevealed)
	if got != tagged {
		t.Errorf("chain of a tagged ritual: got %+v, want %+v", got, tagged)
	}
}

func TestRitualOf(t *testing.T) {
	t.Parallel()
	tagged := apparition
	tagged.Seance = "s1"
	tests := []struct {
		name   string
		in     core.Event
		want   organs.Ritual
		wantOK bool
	}{
		{"summons", mustNew(t, organs.SummonRitual, ritual), ritual, true},
		{"apparition of a séance", mustNew(t, organs.SpiritAppeared, tagged), tagged.Ritual, true},
		{"reading", mustNew(t, organs.OmenRevealed, reading), ritual, true},
		{"invalid ritual", core.MustEvent("SUMMON_RITUAL", map[string]any{"number": 2}), organs.Ritual{Number: 2}, true},
		{"payload of the wrong shape", core.MustEvent("SUMMON_RITUAL", map[string]any{"number": "two"}), organs.Ritual{}, false},
		{"another type", core.MustEvent("ORDER_PLACED", map[string]any{"number": 2}), organs.Ritual{}, false},
		{"zero event", core.Event{}, organs.Ritual{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := organs.RitualOf(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RitualOf = %+v, %t; want %+v, %t", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// Audit holds a séance to its rituals 1 to n, each written exactly once,
// and to nothing else of that séance; other séances do not count.
func TestScribeAudit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		written []int // ritual numbers of séance s1, in order
		n       int
		wantErr string // "" for none
	}{
		{"complete", []int{1, 2, 3}, 3, ""},
		{"missing", []int{1}, 3, "no omen for rituals [2 3]"},
		{"repeated", []int{1, 2, 2}, 2, "more than one omen for rituals [2]"},
		{"stray", []int{7, 1}, 1, "omens for unknown rituals [7]"},
		{"all wrong", []int{9, 2, 2}, 3, "no omen for rituals [1 3], more than one omen for rituals [2], omens for unknown rituals [9]"},
		{"nothing", nil, 1, "no omen for rituals [1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := organs.NewScribe(&bytes.Buffer{})
			write := func(seance string, n int) {
				r := reading
				r.Seance, r.Number = seance, n
				if _, err := s.Handle(context.Background(), mustNew(t, organs.OmenRevealed, r)); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range tt.written {
				write("s1", n)
			}
			write("s2", 1) // another séance's ritual 1, twice, and its ritual 5
			write("s2", 1)
			write("s2", 5)
			err := s.Audit("s1", tt.n)
			if got := fmt.Sprint(err); tt.wantErr == "" && err != nil || tt.wantErr != "" && got != tt.wantErr {
				t.Errorf("Audit(s1, %d) = %v, want %q", tt.n, err, tt.wantErr)
			}
		})
	}
}
