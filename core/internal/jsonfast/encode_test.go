package jsonfast_test

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// checkFlatEncode compares the flat encoder with json.Marshal on v.
func checkFlatEncode(t *testing.T, v flatAll) {
	t.Helper()
	c := jsonfast.For(reflect.TypeOf(v))
	got, ok := c.Encode(nil, v)
	enc := c.Encodable(v)
	want, err := json.Marshal(v)
	e, berr := core.Build(core.EventInit{Type: "FLAT", Payload: v})
	if err != nil {
		if ok || enc {
			t.Fatalf("encode %+v: ok=%v encodable=%v, json.Marshal: %v", v, ok, enc, err)
		}
		if berr == nil {
			t.Fatalf("Build %+v: ok, json.Marshal: %v", v, err)
		}
		return
	}
	if !ok {
		t.Fatalf("encode %+v: refused, json.Marshal: %s", v, want)
	}
	if string(got) != string(want) {
		t.Fatalf("encode %+v:\n got  %s\n want %s", v, got, want)
	}
	var back flatAll
	if err := json.Unmarshal(want, &back); err != nil {
		t.Fatal(err)
	}
	if changed := !sameBits(back, v); enc == changed {
		t.Fatalf("encode %+v: encodable=%v, but the value came back changed=%v", v, enc, changed)
	}
	// The event, whether it encoded the payload at once or keeps the value
	// to encode later, shows the same JSON and gives back what decoding it
	// gives.
	if berr != nil {
		t.Fatalf("Build %+v: %v", v, berr)
	}
	if p := e.Payload(); string(p) != string(want) {
		t.Fatalf("Build %+v: Payload\n got  %s\n want %s", v, p, want)
	}
	wire, _ := e.MarshalJSON()
	if !strings.HasSuffix(string(wire), `"payload":`+string(want)+`}`) {
		t.Fatalf("Build %+v: wire form %s does not end with the payload %s", v, wire, want)
	}
	d, err := core.DecodeEvent(wire)
	if err != nil || !d.Equal(e) {
		t.Fatalf("Build %+v: decoded %v (%v), want an event equal to the one built", v, d, err)
	}
	if pv, err := core.PayloadAs[flatAll](e); err != nil || !sameBits(pv, back) {
		t.Fatalf("Build %+v: PayloadAs %+v (%v), want %+v", v, pv, err, back)
	}
}

func FuzzFlatEncode(f *testing.F) {
	f.Add("Mina", "", int64(1), uint64(0), 0.0, float32(0), true)
	f.Add("<a href=\"x\">&amp;</a>", "\u2028\u2029", int64(-1<<63), uint64(1<<64-1), 1e-7, float32(1e21), false)
	f.Add("\x00\x01\x08\x0c\n\r\t\x1f\x7f", "\xff\xfe invalid", int64(127), uint64(255), 1e21, float32(1e-7), true)
	f.Add("ünïcödé 🕯", "\\ back \\ slash", int64(-129), uint64(65536), math.Copysign(0, -1), float32(-1.5e-6), false)
	f.Add("x", "y", int64(0), uint64(0), 123456789.125, float32(3.4e38), false)
	f.Add("x", "y", int64(0), uint64(0), 5e-324, float32(1.4e-45), false)
	f.Add("x", "y", int64(0), uint64(0), math.Inf(1), float32(0), false)
	f.Fuzz(func(t *testing.T, s, s2 string, i int64, u uint64, fl float64, f32 float32, b bool) {
		checkFlatEncode(t, flatAll{
			S: s, SE: s2, I: int(i), I8: int8(i), I16: int16(i), I32: int32(i), I64: i,
			U: uint(u), U8: uint8(u), U16: uint16(u), U32: uint32(u), U64: u,
			F32: f32, F64: fl, F64b: -fl, B: b, BE: !b, Bare: s2, Dash: s,
		})
	})
}
