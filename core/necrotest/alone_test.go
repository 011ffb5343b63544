package necrotest_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

var errBroken = errors.New("broken on purpose")

// failing is an organ that always fails.
func failing(name string, types ...string) core.Organ {
	return core.OrganFunc(name, types, func(context.Context, core.Event) ([]core.Event, error) { return nil, errBroken })
}

// Handle calls one organ once, as the Spine would, and returns exactly what
// the call returned: its events, its error (no retries), a panic as a
// *core.PanicError, an invalid emitted event as an error.
func TestHandle(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var attempt int
	echo := core.OrganFunc("Echo", []string{"PING", "PONG"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		calls.Add(1)
		attempt = core.DeliveryAttempt(ctx)
		return core.Emit(core.MustEvent("PONG", map[string]string{"to": e.ID()})), nil
	})
	ping := core.MustEvent("PING", nil)
	out, err := necrotest.Handle(t, echo, ping)
	if err != nil || len(out) != 1 || out[0].Type() != "PONG" || !strings.Contains(string(out[0].Payload()), ping.ID()) {
		t.Fatalf("Handle = %v, %v; want one PONG for %s", out, err, ping.ID())
	}
	if calls.Load() != 1 || attempt != 1 {
		t.Errorf("%d calls at attempt %d; want one call, attempt 1 (it listens to its own PONG, which must not run)", calls.Load(), attempt)
	}

	calls.Store(0)
	broken := core.OrganFunc("Broken", []string{"PING"}, func(context.Context, core.Event) ([]core.Event, error) {
		calls.Add(1)
		return nil, errBroken
	})
	if out, err := necrotest.Handle(t, broken, ping); !errors.Is(err, errBroken) || out != nil {
		t.Errorf("a failing organ: %v, %v; want its error", out, err)
	}
	if calls.Load() != 1 {
		t.Errorf("a failing organ was called %d times, want once (no retries)", calls.Load())
	}

	panicky := core.OrganFunc("Panicky", []string{"PING"}, func(context.Context, core.Event) ([]core.Event, error) { panic("the candle went out") })
	_, err = necrotest.Handle(t, panicky, ping)
	var pe *core.PanicError
	if !errors.As(err, &pe) || pe.Value != "the candle went out" {
		t.Errorf("a panicking organ: %v; want a *core.PanicError with its value", err)
	}

	invalid := core.OrganFunc("Invalid", []string{"PING"}, func(context.Context, core.Event) ([]core.Event, error) { return []core.Event{{}}, nil })
	if _, err := necrotest.Handle(t, invalid, ping); err == nil || !strings.Contains(err.Error(), "invalid event") {
		t.Errorf("an organ emitting an invalid event: %v; want an error saying so", err)
	}
}

// Handle stops the test when the organ cannot be called with the event.
func TestHandleRefuses(t *testing.T) {
	t.Parallel()
	ping := core.MustEvent("PING", nil)
	for name, c := range map[string]struct {
		organ core.Organ
		want  string
	}{
		"another type": {sink("Deaf", "PONG"), "organ Deaf does not listen to PING (it listens to [PONG])"},
		"nil organ":    {nil, "nil organ"},
	} {
		failed, stopped := stops(t, func(tb testing.TB) { necrotest.Handle(tb, c.organ, ping) })
		if !stopped || len(failed) != 1 || !strings.Contains(failed[0], c.want) {
			t.Errorf("%s: stopped %v, failures %q; want it stopped saying %q", name, stopped, failed, c.want)
		}
	}
}
