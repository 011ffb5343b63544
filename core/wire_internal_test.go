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
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeCanonical(data)
		if !ok {
			return
		}
		strict, err := decodeStrict(data)
		if err != nil {
			t.Fatalf("fast decoder accepted what the strict one refuses (%v): %q", err, data)
		}
		if fast != strict {
			t.Fatalf("decoders disagree on %q:\n fast   %+v\n strict %+v", data, fast, strict)
		}
	})
}

func TestDecodeCanonicalTakesOwnWireForm(t *testing.T) {
	e := MustEvent("SUMMON_RITUAL", map[string]any{"q": "<who> & \u2028", "n": 1})
	got, ok := decodeCanonical(e.AppendJSON(nil))
	if !ok {
		t.Fatalf("the fast decoder refused AppendJSON's output: %s", e.AppendJSON(nil))
	}
	if !got.Equal(e) {
		t.Errorf("got %+v, want %+v", got, e)
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
