package jsonfast_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
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
		if jsonfast.For(reflect.TypeOf(v)) == nil {
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
		if jsonfast.For(reflect.TypeOf(v)) != nil {
			t.Errorf("%T: flat, want not flat", v)
		}
	}
	if jsonfast.For(nil) != nil {
		t.Error("nil type: flat")
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

// A codec refuses a value of another type, whose fields are not where it
// would read or write them.
func TestCodecChecksType(t *testing.T) {
	c := jsonfast.For(reflect.TypeFor[flatNamed]())
	for name, misuse := range map[string]func(){
		"Encode":      func() { c.Encode(nil, flatAll{}) },
		"Encode nil":  func() { c.Encode(nil, nil) },
		"Encodable":   func() { c.Encodable(&flatNamed{}) },
		"Decode":      func() { var v flatAll; jsonfast.Decode(c, &v, "{}") },
		"DecodeValue": func() { c.DecodeValue(reflect.ValueOf(&flatAll{}), "{}") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s on another type did not panic", name)
				}
			}()
			misuse()
		}()
	}
	var v flatNamed
	if !jsonfast.Decode(c, &v, `{"mood":"calm","Level":2}`) || v != (flatNamed{Mood: "calm", Level: 2}) {
		t.Errorf("Decode of its own type: %+v", v)
	}
}
