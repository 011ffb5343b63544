package organs

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"

	"github.com/necrostack/necrostack/core"
)

// Scribe writes each revealed omen, with the ritual that led to it, to an
// io.Writer, and counts the omens of every ritual so a caller can check that
// the séance is complete. It emits nothing.
//
// Handle is safe for concurrent use: each ritual is written in one Write,
// under a lock, so rituals never interleave, though with a concurrent Spine
// they may appear out of order.
type Scribe struct {
	mu    sync.Mutex
	w     io.Writer
	omens map[int]int
}

// NewScribe returns a Scribe writing to w. The zero Scribe has nowhere to
// write: always create one with NewScribe.
func NewScribe(w io.Writer) *Scribe {
	return &Scribe{w: w, omens: make(map[int]int)}
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
	s.omens[r.Number]++
	return nil, nil
}

// Omens returns how many omens were written for each ritual number.
func (s *Scribe) Omens() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.omens)
}

// format renders one ritual as the Scribe writes it: a few lines and a
// blank line after them.
func format(r Reading) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Ritual %d — %s asks: \"%s\"\n", r.Number, r.Seeker, r.Question)
	fmt.Fprintf(&b, "  %s, %s, answers:\n", r.Spirit.Name, r.Spirit.Epithet)
	fmt.Fprintf(&b, "    \"%s\"\n", r.Answer)
	fmt.Fprintf(&b, "  Omen: %s\n\n", r.Omen)
	return b.String()
}
