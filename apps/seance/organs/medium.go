package organs

import (
	"context"

	"github.com/necrostack/necrostack/core"
)

// Medium gives voice to the spirit that appeared: its answer depends on the
// question and on who is answering it.
type Medium struct{}

// Listens returns SPIRIT_APPEARED.
func (Medium) Listens() []string { return []string{SpiritAppeared.Type()} }

// Handle emits one ANSWER_GENERATED for a SPIRIT_APPEARED.
func (Medium) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	a, err := decode(SpiritAppeared, e)
	if err != nil {
		return nil, err
	}
	answer := answers[pick(len(answers), a.Question, a.Spirit.Name)]
	return emit(AnswerGenerated, Reply{Apparition: a, Answer: answer})
}
