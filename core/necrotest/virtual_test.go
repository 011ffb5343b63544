package necrotest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// flaky fails its first n calls, then emits one "DONE".
func flaky(name, listens string, n int) core.Organ {
	calls := 0
	return core.OrganFunc(name, []string{listens}, func(context.Context, core.Event) ([]core.Event, error) {
		calls++
		if calls <= n {
			return nil, errors.New("the spirits are silent")
		}
		return core.Emit(core.MustEvent("DONE", nil)), nil
	})
}

// Under testing/synctest the production retry schedule (100 ms doubling,
// with jitter) passes in virtual time: the run takes no real time, and the
// trace records when each call was made, so the test checks the waits.
func TestRetryScheduleInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seed := core.MustEvent("ASK", nil)
		tr, err := necrotest.RunWith(context.Background(), necrotest.Config{Retry: &core.RetryPolicy{MaxAttempts: 4}},
			[]core.Organ{flaky("Oracle", "ASK", 3)}, seed)
		if err != nil {
			t.Fatal(err)
		}
		tr.RequireTypes(t, "ASK", "DONE")
		calls := tr.CallsOf("Oracle", seed.ID())
		if len(calls) != 4 {
			t.Fatalf("%d calls, want 4: %+v", len(calls), calls)
		}
		// The wait after failed attempt k is between half and all of
		// 100ms·2^(k-1).
		for k := 1; k < len(calls); k++ {
			full := core.DefaultInitialBackoff << (k - 1)
			wait := calls[k].At - calls[k-1].At
			if wait < full/2 || wait > full {
				t.Errorf("wait after attempt %d: %v, want between %v and %v", k, wait, full/2, full)
			}
			if calls[k-1].Err == nil || calls[k].Attempt != k+1 {
				t.Errorf("call %d: %+v", k, calls[k-1])
			}
		}
		if calls[3].Err != nil {
			t.Errorf("the last call failed: %v", calls[3].Err)
		}
	})
}

// Exhausted in virtual time: the dead letter records the attempts, and the
// calls span the whole schedule (0.05 to 0.1 s, then 0.1 to 0.2 s).
func TestRetryExhaustedInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seed := core.MustEvent("ASK", nil)
		tr, err := necrotest.RunWith(context.Background(), necrotest.Config{Retry: &core.RetryPolicy{}},
			[]core.Organ{flaky("Oracle", "ASK", 10)}, seed)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.DeadLetters) != 1 || tr.DeadLetters[0].Attempts != core.DefaultMaxAttempts {
			t.Fatalf("dead letters %+v, want one after %d attempts", tr.DeadLetters, core.DefaultMaxAttempts)
		}
		calls := tr.CallsOf("Oracle", seed.ID())
		if span := calls[len(calls)-1].At - calls[0].At; span < 150*time.Millisecond || span > 300*time.Millisecond {
			t.Errorf("the three calls spanned %v, want 150ms to 300ms", span)
		}
	})
}

func TestRetryAndMaxAttemptsTogether(t *testing.T) {
	_, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxAttempts: 2, Retry: &core.RetryPolicy{}}, []core.Organ{sink("S", "ASK")}, core.MustEvent("ASK", nil))
	if err == nil || !strings.Contains(err.Error(), "MaxAttempts and Config.Retry both set") {
		t.Errorf("RunWith with both: %v, want an error naming both", err)
	}
}

// A panicking call is in the trace's calls as a *core.PanicError.
func TestCallsRecordPanics(t *testing.T) {
	t.Parallel()
	seed := core.MustEvent("ASK", nil)
	boom := core.OrganFunc("Boom", []string{"ASK"}, func(context.Context, core.Event) ([]core.Event, error) { panic("the glass cracked") })
	tr, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxAttempts: 2}, []core.Organ{boom}, seed)
	if err != nil {
		t.Fatal(err)
	}
	calls := tr.CallsOf("Boom", seed.ID())
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	for _, c := range calls {
		var pe *core.PanicError
		if !errors.As(c.Err, &pe) || pe.Value != "the glass cracked" {
			t.Errorf("call %d: error %v, want the panic", c.Attempt, c.Err)
		}
	}
}
