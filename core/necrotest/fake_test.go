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

// chain is Ask → Oracle (OMEN) → Scribe.
func chain() []core.Organ {
	return []core.Organ{fanout("Oracle", "ASK", "OMEN", 1), sink("Scribe", "OMEN")}
}

// A fake replaces an organ by name, takes its listens, emits what it is told,
// and records its calls.
func TestFakeEmits(t *testing.T) {
	t.Parallel()
	oracle := necrotest.NewFake("Oracle").Emit("OMEN", map[string]string{"omen": "a raven"}).Emit("OMEN", nil)
	scribe := necrotest.NewFake("Scribe")
	seed := core.MustEvent("ASK", nil)
	tr := necrotest.Run(t, necrotest.Replace(t, chain(), oracle, scribe), seed)
	tr.RequireTypes(t, "ASK", "OMEN", "OMEN")
	if got := string(tr.OfType("OMEN")[0].Event.Payload()); got != `{"omen":"a raven"}` {
		t.Errorf("emitted payload %s", got)
	}
	if tr.OfType("OMEN")[0].Organ != "Oracle" {
		t.Errorf("emitted by %q, want the fake under the organ's name", tr.OfType("OMEN")[0].Organ)
	}
	oracle.AssertTimes(t, 1)
	scribe.AssertTimes(t, 2)
	if calls := oracle.Calls(); len(calls) != 1 || calls[0].ID() != seed.ID() {
		t.Errorf("calls %v, want the seed", calls)
	}
}

// FailFirst fails the first calls (the Spine retries them); Panic panics;
// Do answers from the input.
func TestFakeFailsPanicsAndDoes(t *testing.T) {
	t.Parallel()
	seed := core.MustEvent("ASK", nil)

	flakyOracle := necrotest.NewFake("Oracle").FailFirst(2, nil).Emit("OMEN", nil)
	tr := necrotest.Run(t, necrotest.Replace(t, chain(), flakyOracle), seed)
	tr.RequireTypes(t, "ASK", "OMEN")
	flakyOracle.AssertTimes(t, 3)
	if calls := tr.CallsOf("Oracle", seed.ID()); len(calls) != 3 || calls[0].Err == nil || !strings.Contains(calls[0].Err.Error(), "call 1 of 2 set to fail") || calls[2].Err != nil {
		t.Errorf("calls %+v", calls)
	}

	boom := necrotest.NewFake("Oracle").Panic("boom")
	tr = necrotest.Run(t, necrotest.Replace(t, chain(), boom), seed)
	if len(tr.DeadLetters) != 1 || !strings.Contains(tr.DeadLetters[0].Error, "boom") {
		t.Errorf("dead letters %+v, want the panic's", tr.DeadLetters)
	}

	echo := necrotest.NewFake("Oracle").Do(func(_ context.Context, e core.Event) ([]core.Event, error) {
		return core.Emit(core.MustEvent("OMEN", map[string]string{"for": e.ID()})), nil
	})
	tr = necrotest.Run(t, necrotest.Replace(t, chain(), echo), seed)
	tr.RequireCount(t, "OMEN", 1)
	if !strings.Contains(string(tr.OfType("OMEN")[0].Event.Payload()), seed.ID()) {
		t.Errorf("Do's answer %s", tr.OfType("OMEN")[0].Event.Payload())
	}

	errSilent := errors.New("silent")
	down := necrotest.NewFake("Oracle").FailFirst(100, errSilent)
	tr = necrotest.Run(t, necrotest.Replace(t, chain(), down), seed)
	if len(tr.DeadLetters) != 1 || tr.DeadLetters[0].Error != "silent" {
		t.Errorf("dead letters %+v, want the given error's", tr.DeadLetters)
	}
}

// Takes makes each call last a while: in virtual time under synctest.
func TestFakeTakesVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := necrotest.NewFake("Oracle").Takes(3*time.Second).Emit("OMEN", nil)
		start := time.Now()
		tr := necrotest.Run(t, necrotest.Replace(t, chain(), slow), core.MustEvent("ASK", nil))
		tr.RequireTypes(t, "ASK", "OMEN")
		if took := time.Since(start); took < 3*time.Second {
			t.Errorf("the run took %v of virtual time, want the fake's 3s", took)
		}
	})
}

// The assertions fail with the calls listed; Replace stops the test on a
// name no organ has.
func TestFakeAssertionsAndReplace(t *testing.T) {
	t.Parallel()
	f := necrotest.NewFake("Oracle")
	necrotest.Run(t, necrotest.Replace(t, chain(), f), core.MustEvent("ASK", map[string]int{"n": 7}))
	for name, c := range map[string]struct {
		check func(tb testing.TB)
		want  string
	}{
		"not called": {f.AssertNotCalled, "fake Oracle was called 1 times, want none"},
		"times":      {func(tb testing.TB) { f.AssertTimes(tb, 2) }, "1: ASK"},
		"the trace":  {func(tb testing.TB) { f.AssertTimes(tb, 2) }, "\ntrace:\nASK {\"n\":7}\n"},
		"called":     {necrotest.NewFake("Other").AssertCalled, "fake Other was not called"},
	} {
		ft := &fakeT{TB: t}
		c.check(ft)
		if len(ft.failed) != 1 || !strings.Contains(ft.failed[0], c.want) {
			t.Errorf("%s: failures %q, want one saying %q", name, ft.failed, c.want)
		}
	}
	failed, stopped := stops(t, func(tb testing.TB) { necrotest.Replace(tb, chain(), necrotest.NewFake("Medium")) })
	if !stopped || len(failed) != 1 || !strings.Contains(failed[0], "no organ named Medium among [Oracle Scribe]") {
		t.Errorf("Replace with an unknown name: stopped %v, %q", stopped, failed)
	}
}
