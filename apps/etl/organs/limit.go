package organs

import (
	"context"
	"fmt"

	"github.com/necrostack/necrostack/core"
)

// MaxEventBytes is the bound on an event on Redis that the chain needs
// (the Redis backend's MaxEventBytes); every process on a stream must use
// the same bound. RAW_DATA_LOADED, DATA_CLEANED and DATA_TRANSFORMED may
// carry every row of a file, so it must hold, as JSON, any file the
// Extractor accepts (DefaultMaxBytes, 8 MiB, and DefaultMaxRows, 100,000
// rows). For text, JSON costs at most 4 bytes per input byte (a dropped
// row's detail quotes a field with %q, and JSON escapes the quoting again)
// plus about 100 bytes per row: under 38 MiB at both limits
// (TestEventSizes), so 64 MiB leaves room, and keeps the one input limit on
// every backend. A file dense in the characters JSON escapes to six bytes
// (<, >, & and control characters) may still exceed it: see
// LimitEventBytes.
const MaxEventBytes = 64 << 20

// LimitEventBytes returns chain with each organ failing, permanently, when
// an event it emits has a wire form larger than limit: the event is then
// dead-lettered for that organ, with an error that says why and what to do,
// rather than refused by the backend at commit. The organs keep their
// names, so logs and dead letters still say "Cleaner".
func LimitEventBytes(chain []core.Organ, limit int) []core.Organ {
	out := make([]core.Organ, len(chain))
	for i, o := range chain {
		out[i] = core.OrganFunc(core.OrganName(o), o.Listens(), func(ctx context.Context, e core.Event) ([]core.Event, error) {
			emitted, err := o.Handle(ctx, e)
			if err != nil {
				return emitted, err
			}
			if err := checkSizes(emitted, limit); err != nil {
				return nil, err
			}
			return emitted, nil
		})
	}
	return out
}

func checkSizes(events []core.Event, limit int) error {
	for _, e := range events {
		wire, err := e.MarshalJSON()
		if err != nil {
			return core.Permanent(err)
		}
		if len(wire) > limit {
			return core.Permanent(fmt.Errorf("%s would be %s, over the %s limit of an event on Redis: split the input",
				e.Type(), roundedSize(len(wire)), roundedSize(limit)))
		}
	}
	return nil
}

// roundedSize is n bytes for a person: 1.5 MiB, 12.0 KiB, 80 bytes.
func roundedSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
