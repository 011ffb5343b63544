package organs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/necrostack/necrostack/core"
)

// Scribe writes each revealed omen, with the ritual that led to it, to an
// io.Writer, and counts the omens of every ritual, by séance and number, so
// a caller can check that a séance is complete. It emits nothing.
//
// Handle is safe for concurrent use: each ritual is written in one Write,
// under a lock, so rituals never interleave, though with a concurrent Spine
// they may appear out of order. Give it an unbuffered writer (such as
// os.Stdout) to see each ritual as soon as its omen is revealed.
type Scribe struct {
	mu    sync.Mutex
	w     io.Writer
	omens map[ritualKey]int
}

// ritualKey identifies a ritual: ritual numbers restart in every séance.
type ritualKey struct {
	seance string
	number int
}

// NewScribe returns a Scribe writing to w. The zero Scribe has nowhere to
// write: always create one with NewScribe.
func NewScribe(w io.Writer) *Scribe {
	return &Scribe{w: w, omens: make(map[ritualKey]int)}
}

// Listens returns OMEN_REVEALED.
func (*Scribe) Listens() []string { return []string{OmenRevealed.Type()} }

// Handle writes the ritual of an OMEN_REVEALED. A write error is returned
// as is, so the Spine retries it; the omen counts only once written.
func (s *Scribe) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	r, err := decode(OmenRevealed, e)
	if err != nil {
		return nil, err
	}
	text := format(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.w, text); err != nil {
		return nil, fmt.Errorf("write ritual %d: %w", r.Number, err)
	}
	s.omens[ritualKey{r.Seance, r.Number}]++
	return nil, nil
}

// Omens returns how many omens were written for each ritual number, whatever
// the séance: the counts to check when the Scribe serves a single séance.
func (s *Scribe) Omens() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int, len(s.omens))
	for k, c := range s.omens {
		out[k.number] += c
	}
	return out
}

// OmensOf returns how many omens were written for each ritual number of the
// séance with the given id ("" for rituals that carry none).
func (s *Scribe) OmensOf(seance string) map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]int)
	for k, c := range s.omens {
		if k.seance == seance {
			out[k.number] += c
		}
	}
	return out
}

// Audit checks the séance with the given id ("" for rituals that carry
// none) against its rituals 1 to n: each must have been written exactly
// once, and no other ritual of that séance at all. The error names the
// rituals with no omen, with more than one, and those of other numbers.
func (s *Scribe) Audit(seance string, n int) error {
	omens := s.OmensOf(seance)
	var missing, repeated, stray []int
	for i := 1; i <= n; i++ {
		if omens[i] == 0 {
			missing = append(missing, i)
		}
	}
	for _, i := range slices.Sorted(maps.Keys(omens)) {
		switch {
		case i < 1 || i > n:
			stray = append(stray, i)
		case omens[i] > 1:
			repeated = append(repeated, i)
		}
	}
	var problems []string
	for _, p := range []struct {
		what    string
		rituals []int
	}{{"no omen for rituals", missing}, {"more than one omen for rituals", repeated}, {"omens for unknown rituals", stray}} {
		if len(p.rituals) > 0 {
			problems = append(problems, fmt.Sprintf("%s %v", p.what, p.rituals))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, ", "))
}

// format renders one ritual as the Scribe writes it: a few lines and a
// blank line after them. The header names the séance, when the ritual has
// one, so that the output of several workers can be merged and audited.
func format(r Reading) string {
	var b strings.Builder
	if r.Seance == "" {
		fmt.Fprintf(&b, "Ritual %d — %s asks: \"%s\"\n", r.Number, r.Seeker, r.Question)
	} else {
		fmt.Fprintf(&b, "Ritual %d (séance %s) — %s asks: \"%s\"\n", r.Number, r.Seance, r.Seeker, r.Question)
	}
	fmt.Fprintf(&b, "  %s, %s, answers:\n", r.Spirit.Name, r.Spirit.Epithet)
	fmt.Fprintf(&b, "    \"%s\"\n", r.Answer)
	fmt.Fprintf(&b, "  Omen: %s\n\n", r.Omen)
	return b.String()
}
