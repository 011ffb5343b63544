package core_test

import (
	"testing"

	"github.com/necrostack/necrostack/core"
)

type benchPayload struct {
	Ritual   int    `json:"ritual"`
	Seeker   string `json:"seeker"`
	Question string `json:"question"`
}

var benchKind = core.NewKind[benchPayload]("SUMMON_RITUAL")

func BenchmarkNewEvent(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := benchKind.New(benchPayload{Ritual: i, Seeker: "Mina", Question: "Who walks?"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalEvent(b *testing.B) {
	e := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"})
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = e.AppendJSON(buf[:0])
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	wire, _ := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"}).MarshalJSON()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := core.DecodeEvent(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKindDecode(b *testing.B) {
	e := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := benchKind.Decode(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKindDecodeWire decodes the payload of an event read off the wire,
// which carries only JSON: what an organ does behind a Redis backend.
func BenchmarkKindDecodeWire(b *testing.B) {
	wire, _ := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"}).MarshalJSON()
	e, err := core.DecodeEvent(wire)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := benchKind.Decode(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEventString is DecodeEvent on a string, as the Redis
// backend decodes go-redis's replies.
func BenchmarkDecodeEventString(b *testing.B) {
	wire, _ := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"}).MarshalJSON()
	s := string(wire)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := core.DecodeEventString(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePayload is BenchmarkKindDecodeWire through DecodePayload,
// which finds the payload's codec by reflection.
func BenchmarkDecodePayload(b *testing.B) {
	wire, _ := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"}).MarshalJSON()
	e, err := core.DecodeEvent(wire)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var p benchPayload
		if err := e.DecodePayload(&p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPayload encodes the payload of an event built from a flat struct,
// which is encoded only when its JSON is wanted.
func BenchmarkPayload(b *testing.B) {
	e := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"})
	b.ReportAllocs()
	for b.Loop() {
		_ = e.Payload()
	}
}
