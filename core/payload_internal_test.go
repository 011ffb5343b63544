package core

import (
	"encoding/json"
	"math"
	"testing"
)

type mood string

type flatNamed struct {
	Mood  mood `json:"mood"`
	Level uint8
}

// Through the public API: events built from flat payloads carry what
// encoding/json would write, and decode (fast or not) as it would read.
func TestFlatPayloadsThroughEvents(t *testing.T) {
	v := flatNamed{Mood: "grim <&>", Level: 3}
	e, err := NewEvent("MOOD_SET", v)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(v)
	if string(e.Payload()) != string(want) {
		t.Fatalf("payload %s, want %s", e.Payload(), want)
	}
	wire, _ := e.MarshalJSON()
	d, err := DecodeEvent(wire)
	if err != nil {
		t.Fatal(err)
	}
	if d.value != nil {
		t.Fatal("a decoded event holds a Go value")
	}
	got, err := PayloadAs[flatNamed](d)
	if err != nil || got != v {
		t.Fatalf("PayloadAs = %+v, %v; want %+v", got, err, v)
	}
	var viaDecode flatNamed
	if err := d.DecodePayload(&viaDecode); err != nil || viaDecode != v {
		t.Fatalf("DecodePayload = %+v, %v; want %+v", viaDecode, err, v)
	}
	// Into a filled value, DecodePayload merges as json.Unmarshal does.
	partial, _ := NewEvent("MOOD_SET", map[string]any{"mood": "calm"})
	merged := flatNamed{Mood: "old", Level: 9}
	if err := partial.DecodePayload(&merged); err != nil || merged != (flatNamed{Mood: "calm", Level: 9}) {
		t.Fatalf("merge = %+v, %v", merged, err)
	}
	// A payload the fast path gives up on still decodes, from zero.
	odd, _ := NewEvent("MOOD_SET", map[string]any{"MOOD": "loud", "level": 1, "extra": true})
	if got, err := PayloadAs[flatNamed](odd); err != nil || got != (flatNamed{Mood: "loud", Level: 1}) {
		t.Fatalf("case-folded PayloadAs = %+v, %v", got, err)
	}
	bad, _ := NewEvent("MOOD_SET", map[string]any{"mood": "x", "Level": 300})
	if _, err := PayloadAs[flatNamed](bad); err == nil {
		t.Fatal("PayloadAs accepted 300 for a uint8")
	}
	// NaN has no JSON form: the error is encoding/json's.
	if _, err := NewEvent("MOOD_SET", struct{ F float64 }{math.NaN()}); err == nil {
		t.Fatal("NaN payload accepted")
	}
	// Invalid UTF-8 is replaced, as encoding/json does, and the event keeps no
	// Go value that would differ from its JSON.
	inv, err := NewEvent("MOOD_SET", flatNamed{Mood: "a\xffb"})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(inv.Payload()); got != `{"mood":"a\ufffdb","Level":0}` || inv.value != nil {
		t.Fatalf("payload %s, value %v", got, inv.value)
	}
}

// A negative zero in an omitempty float is left out of the JSON and comes
// back as a positive zero: events keep no Go value that would say otherwise,
// on the flat path or not.
func TestNegativeZeroOmittedIsNotKept(t *testing.T) {
	negZero := math.Copysign(0, -1)
	type flatF struct {
		F float64 `json:"f,omitempty"`
	}
	type nested struct {
		In struct {
			F float32 `json:"f,omitempty"`
		} `json:"in"`
	}
	flat, err := NewEvent("NEG_ZERO", flatF{F: negZero})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := PayloadAs[flatF](flat); err != nil || math.Signbit(got.F) || string(flat.Payload()) != "{}" {
		t.Errorf("flat: payload %s, PayloadAs %v (signbit %v), %v; want {} and +0", flat.Payload(), got.F, math.Signbit(got.F), err)
	}
	var n nested
	n.In.F = float32(negZero)
	nest, err := NewEvent("NEG_ZERO", n)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := PayloadAs[nested](nest); err != nil || math.Signbit(float64(got.In.F)) {
		t.Errorf("nested: PayloadAs %v (signbit %v), %v; want +0", got.In.F, math.Signbit(float64(got.In.F)), err)
	}
	// Without omitempty, -0 is written as -0 and read back as -0: kept.
	kept, _ := NewEvent("NEG_ZERO", struct{ F float64 }{negZero})
	if string(kept.Payload()) != `{"F":-0}` || kept.value == nil {
		t.Errorf("payload %s, value kept %v; want {\"F\":-0} and kept", kept.Payload(), kept.value != nil)
	}
}
