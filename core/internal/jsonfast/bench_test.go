package jsonfast_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// benchPayload is core's benchmark payload: a typical flat struct.
type benchPayload struct {
	Ritual   int    `json:"ritual"`
	Seeker   string `json:"seeker"`
	Question string `json:"question"`
}

var (
	benchValue = benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"}
	benchJSON  = `{"ritual":1,"seeker":"Mina","question":"Who walks?"}`
	// benchNested is a payload the flat codec does not handle, for
	// ScanCanonical.
	benchNested = `{"ritual":1,"seeker":{"name":"Mina","aliases":["Wilhelmina","Mrs Harker"]},"omens":[1.5,-2e-7,null,true,"\u003cno\u003e"]}`
)

// BenchmarkEncode compares Codec.Encode with json.Marshal.
func BenchmarkEncode(b *testing.B) {
	b.Run("jsonfast", func(b *testing.B) {
		c := jsonfast.For(reflect.TypeFor[benchPayload]())
		var v any = benchValue
		buf := make([]byte, 0, c.Size())
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = c.Encode(buf[:0], v)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(benchValue); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecode compares Decode with json.Unmarshal.
func BenchmarkDecode(b *testing.B) {
	b.Run("jsonfast", func(b *testing.B) {
		c := jsonfast.For(reflect.TypeFor[benchPayload]())
		b.ReportAllocs()
		for b.Loop() {
			var v benchPayload
			if !jsonfast.Decode(c, &v, benchJSON) {
				b.Fatal("gave up")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		data := []byte(benchJSON)
		b.ReportAllocs()
		for b.Loop() {
			var v benchPayload
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkScanCanonical compares ScanCanonical with json.Valid, which
// checks less (not the canonical form).
func BenchmarkScanCanonical(b *testing.B) {
	for _, payload := range []struct{ name, json string }{{"flat", benchJSON}, {"nested", benchNested}} {
		b.Run(payload.name+"/jsonfast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if n, ok := jsonfast.ScanCanonical(payload.json, 0); !ok || n != len(payload.json) {
					b.Fatal("refused")
				}
			}
		})
		b.Run(payload.name+"/encoding-json", func(b *testing.B) {
			data := []byte(payload.json)
			b.ReportAllocs()
			for b.Loop() {
				if !json.Valid(data) {
					b.Fatal("refused")
				}
			}
		})
	}
}
