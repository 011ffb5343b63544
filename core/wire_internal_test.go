package core

import (
	"strings"
	"testing"
	"time"
)

// FuzzDecodeCanonical checks that the fast decoder accepts only what the
// strict one accepts, and reads it the same.
func FuzzDecodeCanonical(f *testing.F) {
	e, _ := Build(EventInit{
		ID: "0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b", Timestamp: time.Date(2026, 10, 31, 23, 59, 59, 120, time.UTC),
		Type: "SUMMON_RITUAL", Payload: map[string]any{"q": "<who> & \u2028", "n": []any{1.5, nil, true}},
	})
	f.Add(e.AppendJSON(nil))
	f.Add([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A","payload":{}}`))
	f.Add([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A","payload":{"a":1},"x":2}`))
	f.Add([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A","payload":{"a":"b"}}}`))
	f.Add([]byte(`{"id":"0B6F1C9E-3D5A-4F7B-9C2E-8A1D4E6F7A8B","timestamp":"2026-10-31T23:59:59+01:00","event_type":"A","payload":{ }}`))
	lineage, _ := Build(EventInit{
		ID: "0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b", Timestamp: time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC), Type: "A",
		ParentID: "7d444840-9dc0-11d1-b245-5ffdce74fad2", CorrelationID: "f47ac10b-58cc-4372-a567-0e02b2c3d479", Key: "hall-7",
		Headers: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "baggage": "room=7", "é": ""},
	})
	f.Add(lineage.AppendJSON(nil))
	escaped, _ := lineage.WithHeaders(map[string]string{"q": "<who>", `"`: "\n"})
	f.Add(escaped.AppendJSON(nil))
	const head = `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A",`
	for _, tail := range []string{
		`"parent_id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","payload":{}}`,
		`"correlation_id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","payload":{}}`,
		`"parent_id":"7D444840-9DC0-11D1-B245-5FFDCE74FAD2","payload":{}}`,
		`"key":"","payload":{}}`,
		`"key":"a\u0041","payload":{}}`,
		`"key":"` + strings.Repeat("k", 257) + `","payload":{}}`,
		`"headers":{},"payload":{}}`,
		`"headers":{"b":"1","a":"2"},"payload":{}}`,
		`"headers":{"a":"1","a":"2"},"payload":{}}`,
		`"headers":{"":"1"},"payload":{}}`,
		`"headers":{"a":null},"payload":{}}`,
		`"headers":{"a":"<"},"payload":{}}`,
		`"key":"k","parent_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","payload":{}}`,
		`"parent_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","parent_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","payload":{}}`,
	} {
		f.Add([]byte(head + tail))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeCanonical(data)
		if !ok {
			return
		}
		strict, err := decodeStrict(data)
		if err != nil {
			t.Fatalf("fast decoder accepted what the strict one refuses (%v): %q", err, data)
		}
		if !fast.Equal(strict) {
			t.Fatalf("decoders disagree on %q:\n fast   %+v\n strict %+v", data, fast, strict)
		}
	})
}

func TestDecodeCanonicalTakesOwnWireForm(t *testing.T) {
	seed := MustEvent("SUMMON_RITUAL", map[string]any{"q": "<who> & \u2028", "n": 1})
	keyed, err := Build(EventInit{Type: "SUMMON_RITUAL", Key: "hall-7 ✓", Headers: map[string]string{"b": "", "a": "é"}})
	if err != nil {
		t.Fatal(err)
	}
	child, err := MustEvent("SPIRIT_APPEARED", nil).emittedBy(keyed).WithHeaders(map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	})
	if err != nil {
		t.Fatal(err)
	}
	grandchild := MustEvent("OMEN_REVEALED", nil).emittedBy(child)
	for _, e := range []Event{seed, keyed, child, grandchild} {
		got, ok := decodeCanonical(e.AppendJSON(nil))
		if !ok {
			t.Fatalf("the fast decoder refused AppendJSON's output: %s", e.AppendJSON(nil))
		}
		if !got.Equal(e) {
			t.Errorf("got %s, want %s", got.AppendJSON(nil), e.AppendJSON(nil))
		}
	}
}

// What the canonical encoder writes with an escape in a key or header goes
// to the strict decoder, which reads it the same.
func TestDecodeCanonicalLeavesEscapesToStrict(t *testing.T) {
	for _, init := range []EventInit{
		{Type: "A", Key: "<k>"},
		{Type: "A", Key: "line\nbreak"},
		{Type: "A", Headers: map[string]string{"a": `"quoted"`}},
		{Type: "A", Headers: map[string]string{"a&b": "x"}},
	} {
		e, err := Build(init)
		if err != nil {
			t.Fatal(err)
		}
		wire := e.AppendJSON(nil)
		if _, ok := decodeCanonical(wire); ok {
			t.Errorf("the fast decoder took %s", wire)
		}
		got, err := DecodeEvent(wire)
		if err != nil || !got.Equal(e) {
			t.Errorf("DecodeEvent(%s) = %s, %v", wire, got.AppendJSON(nil), err)
		}
	}
}

// encoding/json's nesting limit counts the event object around the payload:
// the fast decoder must refuse what the strict one refuses at the limit.
func TestDecodeCanonicalNestingLimit(t *testing.T) {
	const head = `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A","payload":`
	for levels, want := range map[int]bool{9998: true, 9999: false} {
		// The payload object, levels arrays inside it, the event around it.
		wire := head + `{"a":` + strings.Repeat("[", levels) + strings.Repeat("]", levels) + "}}"
		_, strictErr := decodeStrict([]byte(wire))
		if (strictErr == nil) != want {
			t.Fatalf("%d levels: strict decoder error %v; encoding/json's limit moved", levels, strictErr)
		}
		if _, ok := decodeCanonical([]byte(wire)); ok != want {
			t.Errorf("%d levels: fast decoder ok=%v, strict decoder error %v", levels, ok, strictErr)
		}
	}
}
