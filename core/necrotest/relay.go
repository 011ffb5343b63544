package necrotest

import (
	"context"

	"github.com/necrostack/necrostack/core"
)

// Relay returns an organ named name that handles events of type from by
// emitting one event of type to carrying the same payload, or nothing when to
// is empty. Chains of relays stand in for real organs in backend tests and
// benchmarks.
func Relay(name, from, to string) core.Organ {
	return core.OrganFunc(name, []string{from}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		if to == "" {
			return nil, nil
		}
		next, err := core.NewEvent(to, e.Payload())
		if err != nil {
			return nil, core.Permanent(err)
		}
		return []core.Event{next}, nil
	})
}
