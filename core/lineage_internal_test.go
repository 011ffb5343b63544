package core

import (
	"encoding/binary"
	"maps"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// emittedBy is e after setParent(parent): the tests' way to see it.
func (e Event) emittedBy(parent Event) Event {
	e.setParent(&parent)
	return e
}

func TestEmittedBy(t *testing.T) {
	seed, err := Build(EventInit{Type: "SUMMON_RITUAL", Key: "hall-7", Headers: map[string]string{"a": "seed's"}})
	if err != nil {
		t.Fatal(err)
	}
	child := MustEvent("SPIRIT_APPEARED", map[string]int{"n": 1}).emittedBy(seed)
	if child.ParentID() != seed.ID() || child.CorrelationID() != seed.ID() || child.Key() != "hall-7" || child.Headers() != nil {
		t.Errorf("child of the seed: %s", child.AppendJSON(nil))
	}
	own, err := Build(EventInit{Type: "OMEN_REVEALED", Key: "own", Headers: map[string]string{"b": "own"}})
	if err != nil {
		t.Fatal(err)
	}
	grandchild := own.emittedBy(child)
	if grandchild.ParentID() != child.ID() || grandchild.CorrelationID() != seed.ID() || grandchild.Key() != "own" ||
		!maps.Equal(grandchild.Headers(), map[string]string{"b": "own"}) {
		t.Errorf("grandchild: %s", grandchild.AppendJSON(nil))
	}
	if grandchild.ID() != own.ID() || string(grandchild.Payload()) != string(own.Payload()) || own.ParentID() != "" {
		t.Errorf("emittedBy changed more than the lineage, or its receiver: %s, %s", grandchild.AppendJSON(nil), own.AppendJSON(nil))
	}
	// Lineage set before is replaced: the Spine's word is final.
	if again := grandchild.emittedBy(seed); again.ParentID() != seed.ID() || again.CorrelationID() != seed.ID() {
		t.Errorf("re-parented: %s", again.AppendJSON(nil))
	}
	// An organ returning its input re-enqueues it, as it was.
	if same := child.emittedBy(child); !same.Equal(child) || same.parentID != child.parentID {
		t.Errorf("an event emitted by itself: %s, want %s", same.AppendJSON(nil), child.AppendJSON(nil))
	}
	// The seed emitted again down its chain stays a seed, and valid.
	reSeed := seed.emittedBy(grandchild)
	if reSeed.ParentID() != grandchild.ID() || reSeed.CorrelationID() != seed.ID() || !reSeed.correlationID.IsZero() {
		t.Errorf("seed re-emitted: %s", reSeed.AppendJSON(nil))
	}
	for _, e := range []Event{child, grandchild, reSeed} {
		if back, err := DecodeEvent(e.AppendJSON(nil)); err != nil || !back.Equal(e) {
			t.Errorf("round trip of %s: %v", e.AppendJSON(nil), err)
		}
	}
}

// The hot paths allocate nothing for the lineage, and once at most for the
// key and headers, which an event holds behind one pointer (see Event.ext).
func TestLineageAllocations(t *testing.T) {
	parent, err := Build(EventInit{Type: "SUMMON_RITUAL", Key: "hall-7", ParentID: "7d444840-9dc0-11d1-b245-5ffdce74fad2",
		CorrelationID: "f47ac10b-58cc-4372-a567-0e02b2c3d479"})
	if err != nil {
		t.Fatal(err)
	}
	child := MustEvent("SPIRIT_APPEARED", nil)
	var sink Event
	if n := testing.AllocsPerRun(100, func() { sink = child.emittedBy(parent) }); n != 0 {
		t.Errorf("emittedBy: %v allocations, want 0", n)
	}
	emitted, err := sink.WithHeaders(map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	if err != nil {
		t.Fatal(err)
	}
	// A key beside headers is the one case emittedBy allocates: the new
	// pair.
	other := MustEvent("SPIRIT_APPEARED", nil)
	if n := testing.AllocsPerRun(100, func() { sink = other.emittedBy(emitted) }); n != 1 {
		t.Errorf("emittedBy a parent with key and headers: %v allocations, want 1", n)
	}
	if sink.Key() != "hall-7" || sink.Header("traceparent") != "" {
		t.Errorf("emittedBy a parent with key and headers: key %q, traceparent %q; want the key alone", sink.Key(), sink.Header("traceparent"))
	}
	buf := make([]byte, 0, 1024)
	for _, c := range []struct {
		e           Event
		decodeAlloc float64
	}{{MustEvent("A", map[string]int{"n": 1}), 0}, {lineageOnly(t), 0}, {emitted, 1}} {
		e := c.e
		if n := testing.AllocsPerRun(100, func() { buf = e.AppendJSON(buf[:0]) }); n != 0 {
			t.Errorf("AppendJSON(%s): %v allocations, want 0", buf, n)
		}
		wire := string(e.AppendJSON(nil))
		if n := testing.AllocsPerRun(100, func() { sink, _ = DecodeEventString(wire) }); n != c.decodeAlloc {
			t.Errorf("DecodeEventString(%s): %v allocations, want %v", wire, n, c.decodeAlloc)
		}
		if n := testing.AllocsPerRun(100, func() { _ = e.Header("traceparent") }); n != 0 {
			t.Errorf("Header: %v allocations, want 0", n)
		}
	}
}

// lineageOnly returns an event with a parent and a chain, and no key or
// headers.
func lineageOnly(t *testing.T) Event {
	t.Helper()
	e, err := Build(EventInit{Type: "SPIRIT_APPEARED", ParentID: "7d444840-9dc0-11d1-b245-5ffdce74fad2",
		CorrelationID: "f47ac10b-58cc-4372-a567-0e02b2c3d479"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Every field of an Event is copied wherever it goes: the Spine moves events
// by value, and the backends queue them in slices. At 96 bytes an event is
// a size class, as it was before it had lineage; at 128, with its key,
// headers and flat codec inline, the in-memory séance chain ran 11% slower,
// and at 160, with its ids and time as strings and a time.Time, 15 to 25%.
// This fails when the struct grows, to make that a decision.
func TestEventSize(t *testing.T) {
	if got, want := unsafe.Sizeof(Event{}), uintptr(96); got != want {
		t.Errorf("an Event is %d bytes, want %d", got, want)
	}
}

// fuzzUUID returns the UUID with the given bits, in upper case if upper.
func fuzzUUID(hi, lo uint64, upper bool) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], hi)
	binary.BigEndian.PutUint64(u[8:], lo)
	if upper {
		return strings.ToUpper(u.String())
	}
	return u.String()
}

// fuzzHeaders splits s into headers: "name=value" entries separated by
// newlines.
func fuzzHeaders(s string) map[string]string {
	if s == "" {
		return nil
	}
	h := map[string]string{}
	for entry := range strings.SplitSeq(s, "\n") {
		name, value, _ := strings.Cut(entry, "=")
		h[name] = value
	}
	return h
}

// FuzzEventRoundTrip builds events with random lineage, key and headers,
// and checks that the wire form reads back as the event, by both decoders,
// on the fast path unless a key or header needs an escape.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint8(0), uint64(3), uint64(4), uint8(0), uint64(5), uint64(6), "", "", false)
	f.Add(uint64(1), uint64(2), uint8(1), uint64(3), uint64(4), uint8(1), uint64(5), uint64(6), "hall-7",
		"traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\nbaggage=room=7", false)
	f.Add(uint64(1), uint64(2), uint8(1), uint64(3), uint64(4), uint8(2), uint64(5), uint64(6), "é<&>\u2028\"\\", "a=<\nb=\"\n=x", true)
	f.Add(uint64(1), uint64(2), uint8(2), uint64(3), uint64(4), uint8(3), uint64(5), uint64(6), "\xff", "a=\xff", false)
	f.Fuzz(func(t *testing.T, idHi, idLo uint64, parentMode uint8, pHi, pLo uint64, corrMode uint8, cHi, cLo uint64,
		key, headers string, upper bool) {
		init := EventInit{
			ID: fuzzUUID(idHi, idLo, upper), Timestamp: time.Unix(int64(idHi%(1<<35)), int64(idLo%1e9)), Type: "FUZZ",
			Key: key, Headers: fuzzHeaders(headers), Payload: map[string]string{"k": key},
		}
		switch parentMode % 3 {
		case 1:
			init.ParentID = fuzzUUID(pHi, pLo, upper)
		case 2:
			init.ParentID = init.ID
		}
		switch corrMode % 4 {
		case 1:
			init.CorrelationID = fuzzUUID(cHi, cLo, upper)
		case 2:
			init.CorrelationID = init.ID
		case 3:
			init.CorrelationID = init.ParentID
		}
		e, err := Build(init)
		if err != nil {
			if _, ok := err.(*EventError); !ok {
				t.Fatalf("Build: %v is not an *EventError", err)
			}
			return
		}
		parent := MustEvent("PARENT", nil)
		for _, e := range []Event{e, e.emittedBy(e), e.emittedBy(parent), parent.emittedBy(e)} {
			checkRoundTrip(t, e)
		}
	})
}

func checkRoundTrip(t *testing.T, e Event) {
	t.Helper()
	wire := e.AppendJSON(nil)
	back, err := DecodeEvent(wire)
	if err != nil {
		t.Fatalf("DecodeEvent(%s): %v", wire, err)
	}
	if !back.Equal(e) || back.ParentID() != e.ParentID() || back.CorrelationID() != e.CorrelationID() ||
		back.Key() != e.Key() || !maps.Equal(back.Headers(), e.Headers()) {
		t.Fatalf("round trip changed the event:\n %s\n %s", wire, back.AppendJSON(nil))
	}
	strict, err := decodeStrict(wire)
	if err != nil || !strict.Equal(back) {
		t.Fatalf("decoders disagree on %s: %v", wire, err)
	}
	escapes := strings.ContainsRune(string(jsonfast.AppendString(nil, e.key())), '\\') || strings.ContainsRune(e.headerText(), '\\')
	if _, fast := decodeCanonical(wire); fast == escapes {
		t.Fatalf("fast decoder ok=%v on %s", fast, wire)
	}
	if again := back.AppendJSON(nil); string(again) != string(wire) {
		t.Fatalf("wire form is not stable:\n %s\n %s", wire, again)
	}
}

// An Event keeps its time as a utcTime, and gives back exactly the
// time.Time it kept before: t in UTC, without a monotonic reading.
func TestUTCTime(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, ts := range []time.Time{
		{},
		time.Now(),
		time.Date(2026, 10, 31, 23, 59, 59, 123456789, paris),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		if got, want := toUTCTime(ts).asTime(), ts.UTC().Round(0); got != want {
			t.Errorf("utcTime of %v gives %v back, want %v", ts, got, want)
		}
	}
	if got := (Event{}).Timestamp(); got != (time.Time{}) {
		t.Errorf("the zero Event's time is %v, want the zero time", got)
	}
}
