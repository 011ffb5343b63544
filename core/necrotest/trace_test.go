package necrotest_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// fakeT records failures instead of failing, to test the assertions.
type fakeT struct {
	testing.TB
	failed []string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.failed = append(f.failed, fmt.Sprintf(format, args...))
}

// Fatalf records the failure, formatted, and stops the goroutine, as
// testing's does: run what calls it through stops.
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = append(f.failed, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// stops runs check with a fakeT and reports its failures and whether it
// stopped the test before check returned.
func stops(t *testing.T, check func(tb testing.TB)) (failed []string, stopped bool) {
	ft := &fakeT{TB: t}
	done := make(chan struct{})
	stopped = true
	go func() {
		defer close(done)
		check(ft)
		stopped = false
	}()
	<-done
	return ft.failed, stopped
}

func TestAssertionsFail(t *testing.T) {
	t.Parallel()
	seed := core.MustEvent("ROOT", nil)
	tr := necrotest.Run(t, []core.Organ{fanout("Split", "ROOT", "LEAF", 2), sink("Sink", "LEAF")}, seed)
	checks := map[string]func(tb testing.TB){
		"types": func(tb testing.TB) { tr.AssertTypes(tb, "ROOT", "LEAF") },
		"count": func(tb testing.TB) { tr.AssertCount(tb, "LEAF", 3) },
		"chain": func(tb testing.TB) { tr.AssertChain(tb, seed.ID(), "LEAF") },
	}
	for name, check := range checks {
		ft := &fakeT{TB: t}
		check(ft)
		if len(ft.failed) != 1 {
			t.Errorf("%s: assertion on a wrong expectation reported %d failures, want 1", name, len(ft.failed))
		}
	}
	ft := &fakeT{TB: t}
	tr.AssertTypes(ft, "ROOT", "LEAF", "LEAF")
	tr.AssertNoDeadLetters(ft)
	if len(ft.failed) != 0 {
		t.Errorf("assertions on a right expectation failed: %v", ft.failed)
	}
}
