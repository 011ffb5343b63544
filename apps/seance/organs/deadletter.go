package organs

import (
	"fmt"

	"github.com/necrostack/necrostack/core"
)

// DescribeDeadLetter returns a line about a dead letter for a person to
// read, and whether it holds a ritual of the séance with the given id (""
// for rituals that carry none): the event's type, or that the entry held
// no event, the organ, the reason and the error, then the ritual, as
// "(ritual 3)" when it is of that séance and "(ritual 3 of séance s1)" when
// it is another's. Like RitualOf, it reads what failed as it is.
func DescribeDeadLetter(dl core.DeadLetter, seance string) (line string, own bool) {
	line = "an entry that is not an event"
	if !dl.Event.IsZero() {
		line = dl.Event.Type()
	}
	if dl.Organ != "" {
		line += " organ=" + dl.Organ
	}
	line += fmt.Sprintf(" reason=%s: %s", dl.Reason, dl.Error)
	switch r, ok := RitualOf(dl.Event); {
	case !ok:
		return line, false
	case r.Seance == seance:
		return fmt.Sprintf("%s (ritual %d)", line, r.Number), true
	case r.Seance == "":
		return fmt.Sprintf("%s (ritual %d of a séance without id)", line, r.Number), false
	default:
		return fmt.Sprintf("%s (ritual %d of séance %s)", line, r.Number, r.Seance), false
	}
}
