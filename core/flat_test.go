package core

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// flatAll has a field of every kind the flat codec handles, with and without
// omitempty, tagged and not.
type flatAll struct {
	S    string  `json:"s"`
	SE   string  `json:"se,omitempty"`
	I    int     `json:"i"`
	I8   int8    `json:"i8,omitempty"`
	I16  int16   `json:"i16"`
	I32  int32   `json:"i32,omitempty"`
	I64  int64   `json:"i64"`
	U    uint    `json:"u,omitempty"`
	U8   uint8   `json:"u8"`
	U16  uint16  `json:"u16,omitempty"`
	U32  uint32  `json:"u32"`
	U64  uint64  `json:"u64,omitempty"`
	F32  float32 `json:"f32"`
	F64  float64 `json:"f64,omitempty"`
	F64b float64 `json:"f64b"`
	B    bool    `json:"b"`
	BE   bool    `json:"be,omitempty"`
	Bare string
	Dash string `json:"with-dash_and_underscore"`
}

type mood string

type flatNamed struct {
	Mood  mood `json:"mood"`
	Level uint8
}

func TestFlatCodecFor(t *testing.T) {
	flat := []any{flatAll{}, flatNamed{}, struct{}{}}
	for _, v := range flat {
		if flatCodecFor(reflect.TypeOf(v)) == nil {
			t.Errorf("%T: not flat, want flat", v)
		}
	}
	type inner struct{ A int }
	notFlat := []any{
		struct{ inner }{},            // embedded
		struct{ In inner }{},         // nested
		struct{ A [2]int }{},         // array
		struct{ P *int }{},           // pointer
		struct{ M map[string]int }{}, // map
		struct{ S []int }{},          // slice
		struct {
			A int `json:"a,string"`
		}{}, // string option
		struct {
			A int `json:"a b"`
		}{}, // name encoding/json may treat specially
		struct{ Ünï int }{},       // non-ASCII name
		struct{ a int }{},         // unexported
		struct{ N json.Number }{}, // not plain
		map[string]int{},          // not a struct
		7,
	}
	for _, v := range notFlat {
		if flatCodecFor(reflect.TypeOf(v)) != nil {
			t.Errorf("%T: flat, want not flat", v)
		}
	}
	if flatCodecFor(nil) != nil {
		t.Error("nil type: flat")
	}
}

// checkFlatEncode compares the flat encoder with json.Marshal on v.
func checkFlatEncode(t *testing.T, v flatAll) {
	t.Helper()
	c := flatCodecFor(reflect.TypeOf(v))
	got, ok := c.encode(nil, unsafe.Pointer(&v))
	enc := c.encodable(unsafe.Pointer(&v))
	want, err := json.Marshal(v)
	e, berr := Build(EventInit{Type: "FLAT", Payload: v})
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
	d, err := DecodeEvent(wire)
	if err != nil || !d.Equal(e) {
		t.Fatalf("Build %+v: decoded %v (%v), want an event equal to the one built", v, d, err)
	}
	if pv, err := PayloadAs[flatAll](e); err != nil || !sameBits(pv, back) {
		t.Fatalf("Build %+v: PayloadAs %+v (%v), want %+v", v, pv, err, back)
	}
}

// sameBits compares two structs field by field, floats by their bits: -0 is
// not 0 here.
func sameBits(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		fa, fb := va.Field(i), vb.Field(i)
		switch fa.Kind() {
		case reflect.Float32, reflect.Float64:
			if math.Float64bits(fa.Float()) != math.Float64bits(fb.Float()) {
				return false
			}
		default:
			if fa.Interface() != fb.Interface() {
				return false
			}
		}
	}
	return true
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

// checkFlatDecode compares the flat decoder with json.Unmarshal on data,
// which must be valid JSON: the decoder may give up, but when it does not,
// it must agree.
func checkFlatDecode(t *testing.T, data string) bool {
	t.Helper()
	c := flatCodecFor(reflect.TypeFor[flatAll]())
	var got flatAll
	ok := c.decode(unsafe.Pointer(&got), data)
	var want flatAll
	err := json.Unmarshal([]byte(data), &want)
	if ok && err != nil {
		t.Fatalf("decode %s: ok (%+v), json.Unmarshal: %v", data, got, err)
	}
	if ok && !sameBits(got, want) {
		t.Fatalf("decode %s:\n got  %+v\n want %+v", data, got, want)
	}
	return ok
}

func FuzzFlatDecode(f *testing.F) {
	f.Add(`{}`)
	f.Add(`{"s":"Mina","i":-3,"i8":127,"u8":255,"u32":4294967295,"f32":1.5,"f64":-1e-7,"b":true,"Bare":"x","with-dash_and_underscore":"y"}`)
	f.Add(`{"s":"a\"b"}`)                  // escape: gives up
	f.Add(`{"S":"case"}`)                  // another case: gives up
	f.Add(`{"unknown":1}`)                 // unknown key: gives up
	f.Add(`{"i":null}`)                    // null: gives up
	f.Add(`{"i8":128}`)                    // overflow: gives up
	f.Add(`{"i":1.5}`)                     // not an integer
	f.Add(`{"u":-1}`)                      // negative unsigned
	f.Add(`{"u":-0}`)                      // negative zero unsigned
	f.Add(`{"i":-0,"f64":-0}`)             // negative zeros
	f.Add(`{"f32":3.5e38}`)                // float32 overflow
	f.Add(`{"f64":1e400}`)                 // float64 overflow
	f.Add(`{"s":1}`)                       // type mismatch
	f.Add(`{"b":"true"}`)                  // type mismatch
	f.Add(`{"s":"x","s":"y"}`)             // duplicate: the last wins
	f.Add(`{"s":"ünï","se":"🕯"}`)          // UTF-8
	f.Add(`{"s":"x"} `)                    // not canonical
	f.Add(`{ "s" : "x" }`)                 // not canonical
	f.Add(`{"i":[1]}`)                     // array
	f.Add(`{"s":{"a":1}}`)                 // object
	f.Add(`{"i64":9223372036854775808}`)   // int64 overflow
	f.Add(`{"u64":18446744073709551615}`)  // max uint64
	f.Add(`{"f64b":1E5,"f64":2e+3}`)       // exponents
	f.Add(`[]`)                            // not an object
	f.Add(`"x"`)                           // not an object
	f.Add(`{"b":false,"be":true,"u16":0}`) // falses and zeros
	f.Fuzz(func(t *testing.T, data string) {
		if !json.Valid([]byte(data)) {
			return // payloads are always valid JSON
		}
		checkFlatDecode(t, data)
	})
}

// The decoder must take the common case, or it is no shortcut.
func TestFlatDecodeTakesCanonicalPayloads(t *testing.T) {
	v := flatAll{S: "Mina", SE: "ünï 🕯", I: -3, I8: 127, I16: -300, I32: 1 << 30, I64: -1 << 62,
		U: 7, U8: 255, U16: 65535, U32: 1 << 31, U64: 1<<64 - 1,
		F32: 1.5, F64: 1e-9, F64b: 6.02e23, B: true, BE: true, Bare: "b", Dash: "d"}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !checkFlatDecode(t, string(data)) {
		t.Fatalf("decode %s: gave up", data)
	}
	for _, giveUp := range []string{`{"s":"a\"b"}`, `{"S":"x"}`, `{"zz":1}`, `{"i":null}`, `{"i8":128}`, `{"u":-0}`, `{"s":1}`, `{"s":"x"} `} {
		if checkFlatDecode(t, giveUp) {
			t.Errorf("decode %s: took it, want the encoding/json path", giveUp)
		}
	}
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
