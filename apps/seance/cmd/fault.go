package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/core"
)

// errInjectedFault is matched, with errors.Is, by every failure that
// -fail-organ and -fail-every inject.
var errInjectedFault = errors.New("injected fault")

// fault is what -fail-organ and -fail-every ask for: the organ named organ
// fails on every ritual whose number is a multiple of every. The zero fault
// injects nothing.
type fault struct {
	organ string
	every int
}

// organNames returns the names of the séance's organs, in chain order: the
// values -fail-organ accepts.
func organNames() []string {
	all, _ := organs.All(io.Discard)
	names := make([]string, len(all))
	for i, o := range all {
		names[i] = core.OrganName(o)
	}
	return names
}

// organs returns the séance's organs, with the Scribe writing to w and the
// fault of -fail-organ injected, and that Scribe. An injected fault is
// logged as a warning, so that nobody mistakes it for a real one.
func (cfg config) organs(w io.Writer, log *slog.Logger) ([]core.Organ, *organs.Scribe) {
	all, scribe := organs.All(w)
	if cfg.fault.organ != "" {
		log.Warn("fault injected: "+cfg.fault.String(), slog.String("organ", cfg.fault.organ), slog.Int("every", cfg.fault.every))
	}
	return cfg.fault.apply(all), scribe
}

// apply returns all with the organ f names wrapped by failEvery; all itself
// when f is the zero fault.
func (f fault) apply(all []core.Organ) []core.Organ {
	if f.organ == "" {
		return all
	}
	out := make([]core.Organ, len(all))
	for i, o := range all {
		if core.OrganName(o) == f.organ {
			o = failEvery(f.every)(o)
		}
		out[i] = o
	}
	return out
}

func (f fault) String() string {
	return fmt.Sprintf("%s fails on every %sritual", f.organ, ordinal(f.every))
}

// failEvery returns a middleware that makes an organ fail on every ritual
// whose number is a multiple of n (n >= 1), for tests and demos of
// dead-lettering and redrive. The failure is an ordinary error, not a
// core.Permanent one: the Spine retries it, and dead-letters the event for
// the organ once the attempts are spent. Events of other rituals, and events
// that carry no ritual, go to the organ untouched. The wrapped organ keeps
// its name and the event types it listens to.
func failEvery(n int) func(core.Organ) core.Organ {
	return func(o core.Organ) core.Organ {
		return &faultyOrgan{organ: o, name: core.OrganName(o), every: n}
	}
}

type faultyOrgan struct {
	organ core.Organ
	name  string
	every int
}

func (f *faultyOrgan) Name() string      { return f.name }
func (f *faultyOrgan) Listens() []string { return f.organ.Listens() }

func (f *faultyOrgan) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	// An event without a valid ritual number goes to the organ, which
	// refuses it for what it is.
	if r, ok := organs.RitualOf(e); ok && r.Number >= 1 && r.Number%f.every == 0 {
		return nil, fmt.Errorf("%w: %s (ritual %d)", errInjectedFault, fault{f.name, f.every}, r.Number)
	}
	return f.organ.Handle(ctx, e)
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
