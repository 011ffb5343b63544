package necrotest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

// Fake stands in for an organ in a test: Replace swaps it for the organ of
// the same name. By default each call emits nothing and succeeds; Emit, Do,
// FailFirst, Panic and Takes say otherwise. It records the events it was
// called with, for Calls and the Assert… methods. Configure it before the
// run; it is safe for the Spine's concurrent calls.
type Fake struct {
	name    string
	listens []string

	mu        sync.Mutex
	emits     []fakeEmit
	do        func(context.Context, core.Event) ([]core.Event, error)
	failFirst int
	failErr   error
	panics    any
	takes     time.Duration
	calls     []core.Event
	trace     *Trace // of the last run it was in, for the Assert… messages
}

type fakeEmit struct {
	typ     string
	payload any
}

// NewFake returns a fake named name. Without listens it listens to what the
// organ it replaces listens to.
func NewFake(name string, listens ...string) *Fake {
	return &Fake{name: name, listens: listens}
}

// Emit makes each call emit a new event of type typ with payload (a fresh
// id each call); several Emit calls emit several events, in order.
func (f *Fake) Emit(typ string, payload any) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emits = append(f.emits, fakeEmit{typ, payload})
	return f
}

// Do makes each call run fn instead (after FailFirst and Takes): for an
// answer that depends on the input.
func (f *Fake) Do(fn func(ctx context.Context, e core.Event) ([]core.Event, error)) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.do = fn
	return f
}

// FailFirst makes the first n calls fail with err (nil: an error naming the
// fake and the call), as a flaky dependency would; the Spine retries them.
func (f *Fake) FailFirst(n int, err error) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failFirst, f.failErr = n, err
	return f
}

// Panic makes every call panic with v (after FailFirst's calls).
func (f *Fake) Panic(v any) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.panics = v
	return f
}

// Takes makes each call wait d first, honouring its context: in virtual
// time under testing/synctest.
func (f *Fake) Takes(d time.Duration) *Fake {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.takes = d
	return f
}

// Name is the name of the organ the fake stands in for.
func (f *Fake) Name() string { return f.name }

// Listens returns the event types the fake handles.
func (f *Fake) Listens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listens
}

// Handle records the call and does what the fake was told.
func (f *Fake) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	f.mu.Lock()
	f.calls = append(f.calls, e)
	n := len(f.calls)
	failFirst, failErr, panics, takes, do := f.failFirst, f.failErr, f.panics, f.takes, f.do
	emits := f.emits
	f.mu.Unlock()
	if takes > 0 {
		t := time.NewTimer(takes)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if n <= failFirst {
		if failErr == nil {
			failErr = fmt.Errorf("necrotest: fake %s: call %d of %d set to fail", f.name, n, failFirst)
		}
		return nil, failErr
	}
	if panics != nil {
		panic(panics)
	}
	if do != nil {
		return do(ctx, e)
	}
	var out []core.Event
	for _, em := range emits {
		ev, err := core.NewEvent(em.typ, em.payload)
		if err != nil {
			return nil, fmt.Errorf("necrotest: fake %s: %w", f.name, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// Calls returns the events the fake was called with, retries included, in
// order.
func (f *Fake) Calls() []core.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]core.Event(nil), f.calls...)
}

// AssertCalled fails t unless the fake was called at least once.
func (f *Fake) AssertCalled(t testing.TB) {
	t.Helper()
	if calls := f.Calls(); len(calls) == 0 {
		t.Errorf("fake %s was not called%s", f.name, f.traceText())
	}
}

// AssertNotCalled fails t if the fake was called.
func (f *Fake) AssertNotCalled(t testing.TB) {
	t.Helper()
	if calls := f.Calls(); len(calls) > 0 {
		t.Errorf("fake %s was called %d times, want none:\n%s%s", f.name, len(calls), describeCalls(calls), f.traceText())
	}
}

// AssertTimes fails t unless the fake was called exactly n times, retries
// included.
func (f *Fake) AssertTimes(t testing.TB, n int) {
	t.Helper()
	if calls := f.Calls(); len(calls) != n {
		t.Errorf("fake %s was called %d times, want %d:\n%s%s", f.name, len(calls), n, describeCalls(calls), f.traceText())
	}
}

// runIn tells the fake the trace of the run it is in.
func (f *Fake) runIn(tr *Trace) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trace = tr
}

// traceText is the trace of the fake's last run, for a failure message,
// or "" when it ran in none.
func (f *Fake) traceText() string {
	f.mu.Lock()
	tr := f.trace
	f.mu.Unlock()
	if tr == nil {
		return ""
	}
	return "\ntrace:\n" + tr.String()
}

func describeCalls(calls []core.Event) string {
	var b strings.Builder
	for i, e := range calls {
		fmt.Fprintf(&b, "  %d: %s %s %s\n", i+1, e.Type(), e.ID(), e.Payload())
	}
	return b.String()
}

// Replace returns organs with each fake in place of the organ of the same
// name (core.OrganName); a fake without listens takes that organ's. It stops
// the test (t.Fatalf) when a fake's name matches no organ.
func Replace(t testing.TB, organs []core.Organ, fakes ...*Fake) []core.Organ {
	t.Helper()
	out := append([]core.Organ(nil), organs...)
	for _, f := range fakes {
		found := false
		var names []string
		for i, o := range out {
			name := core.OrganName(o)
			names = append(names, name)
			if name != f.name {
				continue
			}
			f.mu.Lock()
			if len(f.listens) == 0 {
				f.listens = o.Listens()
			}
			f.mu.Unlock()
			out[i], found = f, true
		}
		if !found {
			t.Fatalf("necrotest.Replace: no organ named %s among %v", f.name, names)
		}
	}
	return out
}
