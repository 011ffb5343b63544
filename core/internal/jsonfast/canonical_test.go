package jsonfast_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unsafe"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// isCanonicalValidJSON reports whether s is one canonical JSON document: a
// value on its own, with nothing after it.
func isCanonicalValidJSON(s string) bool {
	n, ok := jsonfast.ScanCanonical(s, 0)
	return ok && n == len(s)
}

// The references ScanCanonical is checked against: the scan it replaced,
// then encoding/json.

// validJSON is json.Valid on a string, without copying it: json.Valid only
// reads its argument.
func validJSON(s string) bool {
	return json.Valid(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// isCanonicalJSON reports whether b, assumed to be JSON, is written as
// core's canonicalObject writes a payload: no space outside strings, and
// none of the characters encoding/json escapes (<, >, &, U+2028, U+2029)
// left raw. It does not check validity.
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

// plainStringRef is ScanPlainString by its definition: the string up to the
// first quote is one AppendString writes as it is.
func plainStringRef(s string) (int, bool) {
	q := strings.IndexByte(s, '"')
	if q < 0 || string(jsonfast.AppendString(nil, s[:q])) != `"`+s[:q]+`"` {
		return 0, false
	}
	return q, true
}

func TestScanPlainString(t *testing.T) {
	tests := []struct {
		in   string
		want int // -1: not plain
	}{
		{`"`, 0},
		{`abc"def"`, 3},
		{`héllo ✓"`, len("héllo ✓")},
		{`abc`, -1},
		{`a\"b"`, -1},
		{`a<b"`, -1},
		{`a&b"`, -1},
		{`a>b"`, -1},
		{"a\u2028b\"", -1},
		{"a\u2029b\"", -1},
		{"a\x1fb\"", -1},
		{"a\xffb\"", -1},
		{"a\xe2\x80\"", -1},
	}
	for _, tt := range tests {
		n, ok := jsonfast.ScanPlainString(tt.in)
		if got := map[bool]int{true: n, false: -1}[ok]; got != tt.want {
			t.Errorf("ScanPlainString(%q) = %d, %v; want %d", tt.in, n, ok, tt.want)
		}
	}
}

func FuzzPlainString(f *testing.F) {
	for _, s := range []string{`"`, `abc"`, `héllo"`, `a\"b"`, `a<b"`, "a\u2028\"", "\xff\"", `abc`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := jsonfast.ScanPlainString(s)
		wantN, wantOK := plainStringRef(s)
		if ok != wantOK || ok && n != wantN {
			t.Fatalf("ScanPlainString(%q) = %d, %v; want %d, %v", s, n, ok, wantN, wantOK)
		}
		if ok {
			var back string
			if err := json.Unmarshal([]byte(`"`+s[:n]+`"`), &back); err != nil || back != s[:n] {
				t.Fatalf("%q reads back as %q, %v", s[:n], back, err)
			}
		}
	})
}
