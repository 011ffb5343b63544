package jsonfast_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// checkFlatDecode compares the flat decoder with json.Unmarshal on data,
// which must be valid JSON: the decoder may give up, but when it does not,
// it must agree.
func checkFlatDecode(t *testing.T, data string) bool {
	t.Helper()
	c := jsonfast.For(reflect.TypeFor[flatAll]())
	var got flatAll
	ok := jsonfast.Decode(c, &got, data)
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
