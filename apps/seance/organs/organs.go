package organs

import (
	"io"

	"github.com/necrostack/necrostack/core"
)

// All returns the séance's organs in chain order, with its Scribe writing
// to w, and that Scribe so the caller can read its counts afterwards.
func All(w io.Writer) ([]core.Organ, *Scribe) {
	s := NewScribe(w)
	return []core.Organ{Summoner{}, Medium{}, Oracle{}, s}, s
}

// Names returns the names of the séance's organs, in chain order.
func Names() []string {
	all, _ := All(io.Discard)
	names := make([]string, len(all))
	for i, o := range all {
		names[i] = core.OrganName(o)
	}
	return names
}

// Compile-time checks that each stage is an Organ.
var (
	_ core.Organ = Summoner{}
	_ core.Organ = Medium{}
	_ core.Organ = Oracle{}
	_ core.Organ = (*Scribe)(nil)
)

// emit builds the single event an organ returns. A failure is a bug in the
// organ, not in its input, so retrying cannot help.
func emit[T any](k core.Kind[T], payload T) ([]core.Event, error) {
	e, err := k.New(payload)
	if err != nil {
		return nil, core.Permanent(err)
	}
	return core.Emit(e), nil
}
