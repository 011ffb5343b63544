package core

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unsafe"
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

// The reference isCanonicalValidJSON is checked against: the scan it
// replaced, then encoding/json.

// validJSON is json.Valid on a string, without copying it: json.Valid only
// reads its argument.
func validJSON(s string) bool {
	return json.Valid(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// isCanonicalJSON reports whether b, assumed to be JSON, is written as
// canonicalObject writes it: no space outside strings, and none of the
// characters encoding/json escapes (<, >, &, U+2028, U+2029) left raw. It
// does not check validity.
func isCanonicalJSON(b string) bool {
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			case c == '<' || c == '>' || c == '&':
				return false
			case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9):
				return false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case ' ', '\t', '\n', '\r':
			return false
		}
	}
	return true
}

func FuzzCanonicalValidJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":[1,2.5,-0,1e9,1E-9,0.5e+3,true,false,null,{"b":"c"}]}`,
		`{"q":"\u003cwho\u003e \u0026 \u2028","n":[1.5,null,true]}`, `{"s":"\"\\\/\b\f\n\r\t\u00e9"}`,
		`{"a":1,}`, `{"a" :1}`, `{ "a":1}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":+1}`,
		`{"a":"<"}`, `{"a":"&"}`, "{\"a\":\"\u2028\"}", `{"a":"\x"}`, `{"a":"\u12"}`, "{\"a\":\"\x01\"}",
		"{\"a\":\"\xff\xfe\"}", `{"a":tru}`, `{"a":nul}`, `[1]`, `"x"`, `{"a":1}}`, `{"a":1`, `{"a"}`, `{1:2}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := isCanonicalJSON(s) && validJSON(s)
		if got := isCanonicalValidJSON(s); got != want {
			t.Fatalf("isCanonicalValidJSON(%q) = %v, want %v", s, got, want)
		}
	})
}

// encoding/json refuses documents nested deeper than 10,000 levels.
func TestCanonicalValidJSONDepth(t *testing.T) {
	for depth, want := range map[int]bool{9999: true, 10000: true, 10001: false, 10002: false} {
		s := strings.Repeat(`{"a":`, depth-1) + `[]` + strings.Repeat(`}`, depth-1)
		if validJSON(s) != want {
			t.Fatalf("depth %d: json.Valid = %v; encoding/json's limit moved", depth, !want)
		}
		if got := isCanonicalValidJSON(s); got != want {
			t.Errorf("depth %d: isCanonicalValidJSON = %v, want %v", depth, got, want)
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
