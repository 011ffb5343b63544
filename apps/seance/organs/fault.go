package organs

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/necrostack/necrostack/core"
)

// ErrInjectedFault is matched, with errors.Is, by every failure a
// FaultyOrgan injects.
var ErrInjectedFault = errors.New("injected fault")

// FaultyOrgan is an organ of the séance made to fail on every ritual whose
// number is a multiple of a given n, for tests and demos of dead-lettering
// and redrive. FailEvery makes one.
//
// The failure is an ordinary error, not a core.Permanent one: the Spine
// retries it, and dead-letters the event for the organ once the attempts
// are spent. Events of other rituals, and events that carry no valid ritual
// number, go to the organ untouched (it refuses the latter for what they
// are). It keeps the organ's name and the event types it listens to, and is
// safe for concurrent use if the organ is.
type FaultyOrgan struct {
	organ core.Organ
	name  string
	every int
}

var _ core.Organ = (*FaultyOrgan)(nil)

// FailEvery returns o made to fail on rituals n, 2n, 3n...; n below 1
// injects nothing.
func FailEvery(o core.Organ, n int) *FaultyOrgan {
	return &FaultyOrgan{organ: o, name: core.OrganName(o), every: n}
}

// Name returns the wrapped organ's name.
func (f *FaultyOrgan) Name() string { return f.name }

// Listens returns what the wrapped organ listens to.
func (f *FaultyOrgan) Listens() []string { return f.organ.Listens() }

// Handle fails for the rituals of the fault, with an error naming the
// organ and the ritual, and hands every other event to the organ.
func (f *FaultyOrgan) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	if r, ok := RitualOf(e); ok && f.every >= 1 && r.Number >= 1 && r.Number%f.every == 0 {
		return nil, fmt.Errorf("%w: %s (ritual %d)", ErrInjectedFault, f, r.Number)
	}
	return f.organ.Handle(ctx, e)
}

// String describes the fault: "Oracle fails on every 3rd ritual".
func (f *FaultyOrgan) String() string {
	return fmt.Sprintf("%s fails on every %sritual", f.name, ordinal(f.every))
}

// ordinal returns "" for 1, so that "every "+ordinal(n)+"ritual" reads
// "every ritual", and else n with its English suffix and a space: "2nd ",
// "11th ", "21st ".
func ordinal(n int) string {
	if n == 1 {
		return ""
	}
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix + " "
}
