package necrotest

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"testing"

	"github.com/necrostack/necrostack/core"
)

// Handle calls organ once with e and returns what it emitted and its error:
// one organ alone, without the rest of the chain and without retries. The
// call goes through a Spine, so the organ gets the context the Spine gives
// (core.DeliveryAttempt, the values of the Spine's middleware), a panic
// comes back as a *core.PanicError, and an emitted event that is not valid
// comes back as an error, as the Spine would count it. Handle stops the test
// (t.Fatalf) when the organ is rejected (core.NewSpine's checks) or does not
// listen to e's type.
func Handle(t testing.TB, organ core.Organ, e core.Event) ([]core.Event, error) {
	t.Helper()
	emitted, err, called, runErr := handleOnce(organ, e)
	switch {
	case runErr != nil && !called:
		t.Fatalf("necrotest.Handle: %v", runErr)
	case !called:
		t.Fatalf("necrotest.Handle: organ %s was not called with %s", core.OrganName(organ), e)
	}
	return emitted, err
}

// handleOnce runs organ on e alone and reports what its one call returned,
// whether it was called, and why not.
func handleOnce(organ core.Organ, e core.Event) (emitted []core.Event, err error, called bool, runErr error) {
	if organ == nil {
		return nil, nil, false, errors.New("nil organ")
	}
	if !slices.Contains(organ.Listens(), e.Type()) {
		return nil, nil, false, fmt.Errorf("organ %s does not listen to %s (it listens to %v)", core.OrganName(organ), e.Type(), organ.Listens())
	}
	var once sync.Once
	capture := func(o core.Organ) core.Organ {
		return core.OrganFunc(core.OrganName(o), o.Listens(), func(ctx context.Context, ev core.Event) (out []core.Event, herr error) {
			first := false
			once.Do(func() { first = true })
			if !first {
				return nil, nil // MaxSteps 1 stops the run before this; never another call
			}
			defer func() {
				if r := recover(); r != nil {
					emitted, err, called = nil, &core.PanicError{Value: r, Stack: debug.Stack()}, true
					panic(r) // the Spine's own recovery takes it from here
				}
			}()
			out, herr = o.Handle(ctx, ev)
			emitted, err, called = out, herr, true
			if herr == nil {
				for _, x := range out {
					if verr := x.Validate(); verr != nil {
						err = fmt.Errorf("organ %s emitted an invalid event: %w", core.OrganName(o), verr)
						break
					}
				}
			}
			return out, herr
		})
	}
	_, runErr = RunWith(context.Background(), Config{MaxSteps: 1, MaxAttempts: 1, MaxEventBytes: -1, inner: capture}, []core.Organ{organ}, e)
	if errors.Is(runErr, core.ErrMaxStepsExceeded) {
		runErr = nil // what the organ emitted was next: the one call is done
	}
	return emitted, err, called, runErr
}
