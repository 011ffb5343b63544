package organs

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/necrostack/necrostack/core"
)

// The kinds of the séance chain, in the order they occur.
var (
	SummonRitual    = core.NewKind[Ritual]("SUMMON_RITUAL")
	SpiritAppeared  = core.NewKind[Apparition]("SPIRIT_APPEARED")
	AnswerGenerated = core.NewKind[Reply]("ANSWER_GENERATED")
	OmenRevealed    = core.NewKind[Reading]("OMEN_REVEALED")
)

// Limits on what a seeker brings to the table, in runes. They keep the
// printed séance readable.
const (
	MaxSeekerLen   = 64
	MaxQuestionLen = 280
	MaxSeanceLen   = 32
)

// Ritual is one summons, the payload of SUMMON_RITUAL. Every later payload
// embeds it, so each stage knows whose séance it serves.
type Ritual struct {
	// Number identifies the ritual within its séance, from 1. The Scribe
	// counts omens by séance and number.
	Number   int    `json:"number"`
	Seeker   string `json:"seeker"`
	Question string `json:"question"`
	// Seance identifies the séance (one run of a program) the ritual
	// belongs to, so that séances sharing a durable stream can be told
	// apart: letters, digits, '-' and '_'. Empty when a séance has its
	// queue to itself. It never changes what the spirits say.
	Seance string `json:"seance,omitempty"`
}

// Spirit is who answers a summons.
type Spirit struct {
	Name    string `json:"name"`
	Epithet string `json:"epithet"`
}

// Apparition is the payload of SPIRIT_APPEARED.
type Apparition struct {
	Ritual
	Spirit Spirit `json:"spirit"`
}

// Reply is the payload of ANSWER_GENERATED.
type Reply struct {
	Apparition
	Answer string `json:"answer"`
}

// Reading is the payload of OMEN_REVEALED: the whole séance of one ritual.
type Reading struct {
	Reply
	Omen string `json:"omen"`
}

// ErrInvalidPayload is matched, with errors.Is, by every validation failure
// of a séance payload.
var ErrInvalidPayload = errors.New("invalid séance payload")

// FieldError reports which payload field is invalid, and why.
type FieldError struct {
	Field  string // the JSON name, dotted when nested: "question", "spirit.name"
	Reason string
}

func (e *FieldError) Error() string {
	return ErrInvalidPayload.Error() + ": " + e.Field + ": " + e.Reason
}

// Is makes every FieldError match ErrInvalidPayload.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidPayload }

// Validate reports the first invalid field of r as a *FieldError.
func (r Ritual) Validate() error {
	if r.Number < 1 {
		return &FieldError{Field: "number", Reason: fmt.Sprintf("%d: must be at least 1", r.Number)}
	}
	if err := checkText("seeker", r.Seeker, MaxSeekerLen); err != nil {
		return err
	}
	if err := checkText("question", r.Question, MaxQuestionLen); err != nil {
		return err
	}
	return checkSeance(r.Seance)
}

// checkSeance accepts an empty id, or a short one that prints cleanly in a
// ritual's header and greps cleanly out of it.
func checkSeance(id string) error {
	switch {
	case id == "":
		return nil
	case len(id) > MaxSeanceLen:
		return &FieldError{Field: "seance", Reason: fmt.Sprintf("longer than %d characters", MaxSeanceLen)}
	case strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0:
		return &FieldError{Field: "seance", Reason: "only letters, digits, '-' and '_' are allowed"}
	}
	return nil
}

// Validate reports the first invalid field of a as a *FieldError.
func (a Apparition) Validate() error {
	if err := a.Ritual.Validate(); err != nil {
		return err
	}
	if err := checkText("spirit.name", a.Spirit.Name, 0); err != nil {
		return err
	}
	return checkText("spirit.epithet", a.Spirit.Epithet, 0)
}

// Validate reports the first invalid field of r as a *FieldError.
func (r Reply) Validate() error {
	if err := r.Apparition.Validate(); err != nil {
		return err
	}
	return checkText("answer", r.Answer, 0)
}

// Validate reports the first invalid field of r as a *FieldError.
func (r Reading) Validate() error {
	if err := r.Reply.Validate(); err != nil {
		return err
	}
	return checkText("omen", r.Omen, 0)
}

// checkText rejects blank text, text over max runes (when max > 0) and
// control characters, which would break the Scribe's layout.
func checkText(field, s string, max int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return &FieldError{Field: field, Reason: "empty"}
	case !utf8.ValidString(s):
		return &FieldError{Field: field, Reason: "not valid UTF-8"}
	case max > 0 && utf8.RuneCountInString(s) > max:
		return &FieldError{Field: field, Reason: fmt.Sprintf("longer than %d characters", max)}
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return &FieldError{Field: field, Reason: "contains a control character"}
	}
	return nil
}

// RitualOf returns the ritual an event of the séance chain serves, and
// false for an event of another type or one whose payload does not decode.
// It does not validate the ritual: it is meant for looking at events that
// failed, such as dead letters.
func RitualOf(e core.Event) (Ritual, bool) {
	switch e.Type() {
	case SummonRitual.Type(), SpiritAppeared.Type(), AnswerGenerated.Type(), OmenRevealed.Type():
	default:
		return Ritual{}, false
	}
	// Every payload of the chain embeds the Ritual, so its fields sit at
	// the top level of each.
	r, err := core.PayloadAs[Ritual](e)
	return r, err == nil
}

// decode reads and validates the payload of e. Any failure is permanent: a
// payload that is wrong now is wrong on every retry.
func decode[T interface{ Validate() error }](k core.Kind[T], e core.Event) (T, error) {
	v, err := k.Decode(e)
	if err == nil {
		err = v.Validate()
	}
	if err != nil {
		return v, core.Permanent(err)
	}
	return v, nil
}
