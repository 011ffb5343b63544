package necrotest

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	c, err := handleOnce(organ, e)
	if err != nil {
		t.Fatalf("necrotest.Handle: %v", err)
	}
	return c.Emitted, c.Err
}

// handleOnce runs organ on e alone, one step with one attempt, and returns
// its call as the trace recorded it, with an invalid emitted event as its
// error; or why it was not called.
func handleOnce(organ core.Organ, e core.Event) (Call, error) {
	if organ == nil {
		return Call{}, errors.New("nil organ")
	}
	if !slices.Contains(organ.Listens(), e.Type()) {
		return Call{}, fmt.Errorf("organ %s does not listen to %s (it listens to %v)", core.OrganName(organ), e.Type(), organ.Listens())
	}
	// MaxSteps 1: what the organ emitted is not handled, even by itself.
	tr, err := RunWith(context.Background(), Config{MaxSteps: 1, MaxAttempts: 1}, []core.Organ{organ}, e)
	if errors.Is(err, core.ErrMaxStepsExceeded) {
		err = nil
	}
	switch {
	case err != nil && (tr == nil || len(tr.Calls) == 0):
		return Call{}, err
	case tr == nil || len(tr.Calls) == 0:
		return Call{}, fmt.Errorf("organ %s was not called with %s", core.OrganName(organ), e)
	}
	c := tr.Calls[0]
	if c.Err == nil {
		for _, x := range c.Emitted {
			if verr := x.Validate(); verr != nil {
				c.Err = fmt.Errorf("organ %s emitted an invalid event: %w", core.OrganName(organ), verr)
				break
			}
		}
	}
	return c, nil
}
