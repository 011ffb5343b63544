package necrotest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

// Record is one event of a Trace and where it came from.
type Record struct {
	Event core.Event
	// Parent is the id of the event whose handling emitted this one; empty
	// for a seed.
	Parent string
	// Organ is the organ that emitted it; empty for a seed.
	Organ string
	// Depth is 0 for a seed, 1 for what a seed's organs emitted, and so on.
	Depth int
	// HandledBy lists the organs that handled the event successfully, in
	// the order they ran.
	HandledBy []string
}

// Call is one call of an organ, retries included.
type Call struct {
	Organ   string
	Event   string // the id of the event handled
	Attempt int    // 1 for the first call of this organ for this event
	// At is when the call started, from the start of the run: virtual time
	// under testing/synctest.
	At time.Duration
	// Emitted and Err are what the call returned (a panic: a
	// *core.PanicError), before the Spine checked the events.
	Emitted []core.Event
	Err     error
}

// Trace is the chain a run recorded: every event in the order it was
// enqueued, seeds first, the dead letters, and every organ call.
type Trace struct {
	Records     []Record
	DeadLetters []core.DeadLetter
	// Calls is every organ call, in the order they started.
	Calls []Call
	// Steps is the number of events the Spine pulled and handled.
	Steps int
	// Err is the error the run stopped with, if any.
	Err error

	index map[string]int
	start time.Time
}

// CallsOf returns the calls of organ for the event id, in order: the first
// call and its retries.
func (tr *Trace) CallsOf(organ, id string) []Call {
	var out []Call
	for _, c := range tr.Calls {
		if c.Organ == organ && c.Event == id {
			out = append(out, c)
		}
	}
	return out
}

// Types returns the event types of all records, in enqueue order.
func (tr *Trace) Types() []string {
	out := make([]string, len(tr.Records))
	for i, r := range tr.Records {
		out[i] = r.Event.Type()
	}
	return out
}

// Events returns the events of all records, in enqueue order.
func (tr *Trace) Events() []core.Event {
	out := make([]core.Event, len(tr.Records))
	for i, r := range tr.Records {
		out[i] = r.Event
	}
	return out
}

// OfType returns the records of events of type t, in enqueue order.
func (tr *Trace) OfType(t string) []Record {
	var out []Record
	for _, r := range tr.Records {
		if r.Event.Type() == t {
			out = append(out, r)
		}
	}
	return out
}

// Find returns the record of the event with the given id.
func (tr *Trace) Find(id string) (Record, bool) {
	i, ok := tr.index[id]
	if !ok {
		return Record{}, false
	}
	return tr.Records[i], true
}

// Children returns the records of the events emitted for event id.
func (tr *Trace) Children(id string) []Record {
	var out []Record
	for _, r := range tr.Records {
		if r.Parent == id {
			out = append(out, r)
		}
	}
	return out
}

// Lineage returns the record of event id and its ancestors, seed first.
func (tr *Trace) Lineage(id string) []Record {
	var out []Record
	for id != "" {
		r, ok := tr.Find(id)
		if !ok {
			break
		}
		out = append(out, r)
		id = r.Parent
	}
	slices.Reverse(out)
	return out
}

// Descendants returns every event emitted, directly or not, for event id, in
// enqueue order.
func (tr *Trace) Descendants(id string) []Record {
	in := map[string]bool{id: true}
	var out []Record
	for _, r := range tr.Records { // parents always precede their children
		if r.Parent != "" && in[r.Parent] {
			in[r.Event.ID()] = true
			out = append(out, r)
		}
	}
	return out
}

// DeadLettersFor returns the dead letters for organ ("" for those no organ is
// blamed for, such as unroutable events).
func (tr *Trace) DeadLettersFor(organ string) []core.DeadLetter {
	var out []core.DeadLetter
	for _, dl := range tr.DeadLetters {
		if dl.Organ == organ {
			out = append(out, dl)
		}
	}
	return out
}

// String renders the trace as an indented tree, for test failures.
func (tr *Trace) String() string {
	var b strings.Builder
	for _, r := range tr.Records {
		fmt.Fprintf(&b, "%s%s", strings.Repeat("  ", r.Depth), r.Event.Type())
		if r.Organ != "" {
			fmt.Fprintf(&b, " <- %s", r.Organ)
		}
		fmt.Fprintf(&b, " %s\n", r.Event.Payload())
	}
	for _, dl := range tr.DeadLetters {
		fmt.Fprintf(&b, "DEAD %s organ=%q reason=%s attempts=%d: %s\n",
			dl.Event.Type(), dl.Organ, dl.Reason, dl.Attempts, dl.Error)
	}
	if tr.Err != nil {
		fmt.Fprintf(&b, "ERROR %v\n", tr.Err)
	}
	return b.String()
}

// AssertTypes fails t unless the trace's event types, in enqueue order, are
// exactly want. RequireTypes stops the test instead.
func (tr *Trace) AssertTypes(t testing.TB, want ...string) {
	t.Helper()
	report(t.Errorf, tr.checkTypes(want))
}

// RequireTypes is AssertTypes that stops the test (t.Fatalf).
func (tr *Trace) RequireTypes(t testing.TB, want ...string) {
	t.Helper()
	report(t.Fatalf, tr.checkTypes(want))
}

// AssertCount fails t unless the trace holds exactly n events of type typ.
func (tr *Trace) AssertCount(t testing.TB, typ string, n int) {
	t.Helper()
	report(t.Errorf, tr.checkCount(typ, n))
}

// RequireCount is AssertCount that stops the test (t.Fatalf), so that what
// follows may index the n records: tr.OfType(typ)[0].
func (tr *Trace) RequireCount(t testing.TB, typ string, n int) {
	t.Helper()
	report(t.Fatalf, tr.checkCount(typ, n))
}

// AssertChain fails t unless the descendants of the seed with the given id
// have exactly the types want, in enqueue order: the shape of a linear chain.
func (tr *Trace) AssertChain(t testing.TB, seedID string, want ...string) {
	t.Helper()
	report(t.Errorf, tr.checkChain(seedID, want))
}

// RequireChain is AssertChain that stops the test (t.Fatalf).
func (tr *Trace) RequireChain(t testing.TB, seedID string, want ...string) {
	t.Helper()
	report(t.Fatalf, tr.checkChain(seedID, want))
}

// AssertNoDeadLetters fails t if anything was dead-lettered.
func (tr *Trace) AssertNoDeadLetters(t testing.TB) {
	t.Helper()
	report(t.Errorf, tr.checkNoDeadLetters())
}

// RequireNoDeadLetters is AssertNoDeadLetters that stops the test
// (t.Fatalf).
func (tr *Trace) RequireNoDeadLetters(t testing.TB) {
	t.Helper()
	report(t.Fatalf, tr.checkNoDeadLetters())
}

// RequireEmitted returns the payloads of the events of kind emitted for the
// event parentID (its children of that type, in enqueue order), and stops
// the test (t.Fatalf) when there are none or one does not decode: the typed
// form of "what did the organs emit for this event".
func RequireEmitted[T any](t testing.TB, tr *Trace, parentID string, kind core.Kind[T]) []T {
	t.Helper()
	if _, ok := tr.Find(parentID); !ok {
		t.Fatalf("no event %s in the trace\ntrace:\n%s", parentID, tr)
	}
	var out []T
	for _, r := range tr.Children(parentID) {
		if r.Event.Type() != kind.Type() {
			continue
		}
		v, err := kind.Decode(r.Event)
		if err != nil {
			t.Fatalf("%s %s emitted for %s: %v\ntrace:\n%s", kind.Type(), r.Event.ID(), parentID, err, tr)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		t.Fatalf("no %s emitted for %s\ntrace:\n%s", kind.Type(), parentID, tr)
	}
	return out
}

// report fails the test through fail (t.Errorf or t.Fatalf) with msg, if
// there is one.
func report(fail func(string, ...any), msg string) {
	if msg != "" {
		fail("%s", msg)
	}
}

func (tr *Trace) checkTypes(want []string) string {
	if got := tr.Types(); !slices.Equal(got, want) {
		return fmt.Sprintf("event types:\n got  %v\n want %v\ntrace:\n%s\nchain (Mermaid):\n%s", got, want, tr, tr.Mermaid())
	}
	return ""
}

func (tr *Trace) checkCount(typ string, n int) string {
	if got := len(tr.OfType(typ)); got != n {
		return fmt.Sprintf("%s events: got %d, want %d\ntrace:\n%s", typ, got, n, tr)
	}
	return ""
}

func (tr *Trace) checkChain(seedID string, want []string) string {
	var got []string
	for _, r := range tr.Descendants(seedID) {
		got = append(got, r.Event.Type())
	}
	if !slices.Equal(got, want) {
		return fmt.Sprintf("chain of %s:\n got  %v\n want %v\ntrace:\n%s\nchain (Mermaid):\n%s", seedID, got, want, tr, tr.Mermaid())
	}
	return ""
}

func (tr *Trace) checkNoDeadLetters() string {
	if len(tr.DeadLetters) > 0 {
		return fmt.Sprintf("%d dead letters, want none\ntrace:\n%s", len(tr.DeadLetters), tr)
	}
	return ""
}
