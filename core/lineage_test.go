package core_test

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

const (
	testID      = "0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b"
	testParent  = "7d444840-9dc0-11d1-b245-5ffdce74fad2"
	testSeed    = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
	traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
)

// manyHeaders returns n headers whose names and values add up to size bytes
// (size >= 3n).
func manyHeaders(n, size int) map[string]string {
	h := make(map[string]string, n)
	for i := range n {
		name := fmt.Sprintf("h%02d", i)
		h[name] = ""
		size -= len(name)
	}
	h["h00"] = strings.Repeat("v", size)
	return h
}

func TestBuildLineage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		init        core.EventInit
		wantErr     string // "field: reason" substring; "" means valid
		wantParent  string
		wantChain   string
		wantKey     string
		wantHeaders map[string]string
	}{
		{name: "none", init: core.EventInit{}, wantChain: testID},
		{name: "emitted", init: core.EventInit{ParentID: testParent, CorrelationID: testSeed, Key: "hall-7"},
			wantParent: testParent, wantChain: testSeed, wantKey: "hall-7"},
		{name: "uppercase ids normalised", init: core.EventInit{ParentID: strings.ToUpper(testParent), CorrelationID: strings.ToUpper(testSeed)},
			wantParent: testParent, wantChain: testSeed},
		{name: "parent without correlation", init: core.EventInit{ParentID: testParent}, wantParent: testParent, wantChain: testID},
		{name: "correlation of a seed dropped", init: core.EventInit{CorrelationID: strings.ToUpper(testID)}, wantChain: testID},
		{name: "headers", init: core.EventInit{Headers: map[string]string{"traceparent": traceparent, "Empty": ""}},
			wantChain: testID, wantHeaders: map[string]string{"traceparent": traceparent, "Empty": ""}},
		{name: "empty headers are none", init: core.EventInit{Headers: map[string]string{}}, wantChain: testID},
		{name: "longest key", init: core.EventInit{Key: strings.Repeat("k", core.MaxKeyLen)}, wantChain: testID, wantKey: strings.Repeat("k", core.MaxKeyLen)},
		{name: "unicode key", init: core.EventInit{Key: "salle-é\n<&>"}, wantChain: testID, wantKey: "salle-é\n<&>"},
		{name: "most headers", init: core.EventInit{Headers: manyHeaders(core.MaxHeaders, core.MaxHeaderBytes)}, wantChain: testID,
			wantHeaders: manyHeaders(core.MaxHeaders, core.MaxHeaderBytes)},
		{name: "bad parent", init: core.EventInit{ParentID: "nope"}, wantErr: `parent_id: "nope" is not a UUID`},
		{name: "own parent", init: core.EventInit{ParentID: testID}, wantErr: "parent_id: is the event's own id"},
		{name: "own parent, uppercase", init: core.EventInit{ParentID: strings.ToUpper(testID)}, wantErr: "parent_id: is the event's own id"},
		{name: "bad correlation", init: core.EventInit{CorrelationID: testSeed + "0"}, wantErr: "correlation_id: "},
		{name: "long key", init: core.EventInit{Key: strings.Repeat("k", core.MaxKeyLen+1)}, wantErr: "key: 257 bytes, more than MaxKeyLen (256)"},
		{name: "invalid UTF-8 key", init: core.EventInit{Key: "a\xffb"}, wantErr: "key: \"a\\xffb\" is not valid UTF-8"},
		{name: "too many headers", init: core.EventInit{Headers: manyHeaders(core.MaxHeaders+1, 3*(core.MaxHeaders+1))},
			wantErr: "headers: 33 entries, more than MaxHeaders (32)"},
		{name: "too many header bytes", init: core.EventInit{Headers: manyHeaders(2, core.MaxHeaderBytes+1)},
			wantErr: "headers: 4097 bytes of names and values, more than MaxHeaderBytes (4096)"},
		{name: "empty header name", init: core.EventInit{Headers: map[string]string{"": "x"}}, wantErr: "headers: a name is empty"},
		{name: "invalid UTF-8 header name", init: core.EventInit{Headers: map[string]string{"\xff": "x"}}, wantErr: "headers: the name \"\\xff\" is not valid UTF-8"},
		{name: "invalid UTF-8 header value", init: core.EventInit{Headers: map[string]string{"a": "\xff"}}, wantErr: `headers: the value of "a" is not valid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.init.ID, tt.init.Type = testID, "A"
			e, err := core.Build(tt.init)
			if tt.wantErr != "" {
				field, _, _ := strings.Cut(tt.wantErr, ":")
				var ee *core.EventError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ee) || ee.Field != field {
					t.Fatalf("Build: got error %v, want an *EventError for %s containing %q", err, field, tt.wantErr)
				}
				if !errors.Is(err, core.ErrInvalidEvent) {
					t.Errorf("error %v does not match ErrInvalidEvent", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			checkLineage(t, e, tt.wantParent, tt.wantChain, tt.wantKey, tt.wantHeaders)
		})
	}
}

// checkLineage checks the accessors of e, and that it reads back the same.
func checkLineage(t *testing.T, e core.Event, parent, chain, key string, headers map[string]string) {
	t.Helper()
	if got := e.ParentID(); got != parent {
		t.Errorf("ParentID() = %q, want %q", got, parent)
	}
	if got := e.CorrelationID(); got != chain {
		t.Errorf("CorrelationID() = %q, want %q", got, chain)
	}
	if got := e.Key(); got != key {
		t.Errorf("Key() = %q, want %q", got, key)
	}
	if got := e.Headers(); !maps.Equal(got, headers) || (got == nil) != (headers == nil) {
		t.Errorf("Headers() = %v, want %v", got, headers)
	}
	for name, value := range headers {
		if got := e.Header(name); got != value {
			t.Errorf("Header(%q) = %q, want %q", name, got, value)
		}
	}
	back, err := core.DecodeEvent(e.AppendJSON(nil))
	if err != nil || !back.Equal(e) {
		t.Errorf("round trip of %s: %v, %v", e.AppendJSON(nil), back, err)
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	in := map[string]string{"traceparent": traceparent, `we"ird\name`: "<&>\u2028\n", "é": "ü", "b": ""}
	e, err := core.Build(core.EventInit{Type: "A", Headers: in})
	if err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(in)
	in["traceparent"] = "changed"
	in["new"] = "x"
	got := e.Headers()
	if !maps.Equal(got, want) {
		t.Fatalf("Headers() = %v, want %v (the input map is copied)", got, want)
	}
	got["b"] = "changed"
	if e.Header("b") != "" || !maps.Equal(e.Headers(), want) {
		t.Errorf("changing the map Headers returned changed the event: %v", e.Headers())
	}
	for name, value := range want {
		if got := e.Header(name); got != value {
			t.Errorf("Header(%q) = %q, want %q", name, got, value)
		}
	}
	for _, name := range []string{"", "a", "Traceparent", "zz", "we"} {
		if got := e.Header(name); got != "" {
			t.Errorf("Header(%q) = %q, want none", name, got)
		}
	}
	if h := core.MustEvent("A", nil).Headers(); h != nil {
		t.Errorf("Headers() of an event without headers = %v, want nil", h)
	}
}

func TestWithHeaders(t *testing.T) {
	t.Parallel()
	e, err := core.Build(core.EventInit{Type: "A", Key: "k", ParentID: testParent, Headers: map[string]string{"a": "1", "b": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	add := map[string]string{"b": "3", "traceparent": traceparent}
	got, err := e.WithHeaders(add)
	if err != nil {
		t.Fatal(err)
	}
	add["c"] = "later"
	if want := map[string]string{"a": "1", "b": "3", "traceparent": traceparent}; !maps.Equal(got.Headers(), want) {
		t.Errorf("WithHeaders: headers %v, want %v", got.Headers(), want)
	}
	if got.ID() != e.ID() || got.Key() != "k" || got.ParentID() != testParent || string(got.Payload()) != "{}" {
		t.Errorf("WithHeaders changed more than the headers: %s", got.AppendJSON(nil))
	}
	if want := map[string]string{"a": "1", "b": "2"}; !maps.Equal(e.Headers(), want) {
		t.Errorf("WithHeaders changed the original: %v", e.Headers())
	}
	if same, err := e.WithHeaders(nil); err != nil || !same.Equal(e) {
		t.Errorf("WithHeaders(nil) = %v, %v; want the event as it was", same, err)
	}
	if first, err := core.MustEvent("A", nil).WithHeaders(map[string]string{"x": "y"}); err != nil || first.Header("x") != "y" {
		t.Errorf("WithHeaders on an event without headers: %v, %v", first.Headers(), err)
	}
	_, err = e.WithHeaders(manyHeaders(core.MaxHeaders, 3*core.MaxHeaders)) // 32 new names beside a and b
	var ee *core.EventError
	if !errors.As(err, &ee) || ee.Field != "headers" || !errors.Is(err, core.ErrInvalidEvent) {
		t.Errorf("WithHeaders past MaxHeaders: got %v, want an *EventError for headers", err)
	}
}

func TestEqualComparesLineage(t *testing.T) {
	t.Parallel()
	base := core.EventInit{ID: testID, Timestamp: time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), Type: "A"}
	variants := []func(*core.EventInit){
		func(*core.EventInit) {},
		func(i *core.EventInit) { i.ParentID = testParent },
		func(i *core.EventInit) { i.CorrelationID = testSeed },
		func(i *core.EventInit) { i.Key = "k" },
		func(i *core.EventInit) { i.Headers = map[string]string{"a": "1"} },
		func(i *core.EventInit) { i.Headers = map[string]string{"a": "2"} },
	}
	for i, vi := range variants {
		for j, vj := range variants {
			a, b := base, base
			vi(&a)
			vj(&b)
			ea, eb := mustBuild(t, a), mustBuild(t, b)
			if got := ea.Equal(eb); got != (i == j) {
				t.Errorf("variant %d Equal variant %d = %v", i, j, got)
			}
		}
	}
	// A correlation id equal to the event's own says what none says.
	seed := base
	seed.CorrelationID = testID
	if !mustBuild(t, seed).Equal(mustBuild(t, base)) {
		t.Error("a seed built with its own id as correlation id differs from one built without")
	}
}

func mustBuild(t *testing.T, init core.EventInit) core.Event {
	t.Helper()
	e, err := core.Build(init)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A Kind builds seeds: no lineage, key or headers.
func TestKindNewBuildsSeeds(t *testing.T) {
	t.Parallel()
	e := core.NewKind[spirit]("SPIRIT_APPEARED").MustNew(spirit{"Banquo", 3})
	if e.ParentID() != "" || e.CorrelationID() != e.ID() || e.Key() != "" || e.Headers() != nil {
		t.Errorf("Kind.New: %s", e.AppendJSON(nil))
	}
}

func ExampleEvent_CorrelationID() {
	seed, _ := core.Build(core.EventInit{ID: testSeed, Type: "SUMMON_RITUAL", Key: "hall-7"})
	child, _ := core.Build(core.EventInit{Type: "SPIRIT_APPEARED", ParentID: seed.ID(), CorrelationID: seed.CorrelationID(), Key: seed.Key()})
	fmt.Println(seed.CorrelationID() == seed.ID(), seed.ParentID() == "")
	fmt.Println(child.CorrelationID() == seed.ID(), child.ParentID() == seed.ID(), child.Key())
	// Output:
	// true true
	// true true hall-7
}

func ExampleEvent_WithHeaders() {
	e := core.MustEvent("SPIRIT_APPEARED", nil)
	e, err := e.WithHeaders(map[string]string{"traceparent": traceparent})
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Header("traceparent"))
	// Output:
	// 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
}
