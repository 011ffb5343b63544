package organs

import (
	"context"
	"strconv"

	"github.com/necrostack/necrostack/core"
)

// Oracle reads the omen that seals an answer. The ritual number is part of
// the reading, so asking the same question twice in one séance may bring
// the same answer but a different sign.
type Oracle struct{}

// Listens returns ANSWER_GENERATED.
func (Oracle) Listens() []string { return []string{AnswerGenerated.Type()} }

// Handle emits one OMEN_REVEALED for an ANSWER_GENERATED.
func (Oracle) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	r, err := decode(AnswerGenerated, e)
	if err != nil {
		return nil, err
	}
	omen := omens[pick(len(omens), strconv.Itoa(r.Number), r.Question, r.Answer)]
	return emit(OmenRevealed, Reading{Reply: r, Omen: omen})
}
