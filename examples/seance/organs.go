package seance

import (
	"context"
	"fmt"
	"io"

	"github.com/necrostack/necrostack/core"
)

// Ritual and Spirit are payloads: plain structs, JSON on the wire.
type Ritual struct {
	Seeker   string `json:"seeker"`
	Question string `json:"question"`
}

type Spirit struct {
	Name   string `json:"name"`
	Answer string `json:"answer"`
}

// A Kind ties an event type to its payload type.
var (
	SummonRitual   = core.NewKind[Ritual]("SUMMON_RITUAL")
	SpiritAppeared = core.NewKind[Spirit]("SPIRIT_APPEARED")
)

// Summoner is named "Summoner" in logs and dead letters.
type Summoner struct{}

func (Summoner) Listens() []string { return []string{SummonRitual.Type()} }

func (Summoner) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	r, err := SummonRitual.Decode(e)
	if err != nil {
		return nil, core.Permanent(err) // retrying cannot fix a bad payload
	}
	next, err := SpiritAppeared.New(Spirit{Name: "Banquo", Answer: r.Seeker + ", the woods are walking"})
	if err != nil {
		return nil, err
	}
	return core.Emit(next), nil
}

// Scribe writes each answer to w. OrganFunc makes an organ of a function.
func Scribe(w io.Writer) core.Organ {
	return core.OrganFunc("Scribe", []string{SpiritAppeared.Type()}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		s, err := SpiritAppeared.Decode(e)
		if err != nil {
			return nil, core.Permanent(err)
		}
		_, err = fmt.Fprintf(w, "%s: %s\n", s.Name, s.Answer)
		return nil, err
	})
}
