package organs

import (
	"context"

	"github.com/necrostack/necrostack/core"
)

// Summoner decides which spirit answers a summons. The same seeker asking
// the same question always draws the same spirit.
type Summoner struct{}

// Listens returns SUMMON_RITUAL.
func (Summoner) Listens() []string { return []string{SummonRitual.Type()} }

// Handle emits one SPIRIT_APPEARED for a SUMMON_RITUAL.
func (Summoner) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	r, err := decode(SummonRitual, e)
	if err != nil {
		return nil, err
	}
	spirit := spirits[pick(len(spirits), r.Seeker, r.Question)]
	return emit(SpiritAppeared, Apparition{Ritual: r, Spirit: spirit})
}
