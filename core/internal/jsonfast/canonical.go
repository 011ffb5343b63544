package jsonfast

import (
	"strings"
	"unicode/utf8"
)

// ScanCanonical reports whether s begins with a JSON value, valid as
// json.Valid has it, in canonical form: compact (no space outside strings),
// with none of the characters json.Marshal escapes (<, >, &, U+2028,
// U+2029) raw in strings. That is the form core keeps every payload in. It
// returns the value's length: the whole of s is such a value when n ==
// len(s). depth is how many arrays or objects the value is nested in, for
// encoding/json's nesting limit. It is one pass that allocates nothing.
func ScanCanonical(s string, depth int) (n int, ok bool) {
	v := canonicalValidator{s: s}
	if !v.value(depth) {
		return 0, false
	}
	return v.i, true
}

// maxJSONDepth is encoding/json's nesting limit: json.Valid refuses deeper
// documents.
const maxJSONDepth = 10000

type canonicalValidator struct {
	s string
	i int
}

// value checks the value at v.i, nested in depth arrays and objects, and
// moves past it.
func (v *canonicalValidator) value(depth int) bool {
	if v.i >= len(v.s) {
		return false
	}
	switch c := v.s[v.i]; {
	case c == '{':
		return v.container(depth, '}', true)
	case c == '[':
		return v.container(depth, ']', false)
	case c == '"':
		return v.str()
	case c == '-' || c >= '0' && c <= '9':
		return v.number()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	}
	return false
}

// container checks the object (keyed) or array at v.i, closed by end, and
// moves past it.
func (v *canonicalValidator) container(depth int, end byte, keyed bool) bool {
	if depth >= maxJSONDepth {
		return false
	}
	v.i++
	if v.i < len(v.s) && v.s[v.i] == end {
		v.i++
		return true
	}
	for {
		if keyed {
			if v.i >= len(v.s) || v.s[v.i] != '"' || !v.str() {
				return false
			}
			if v.i >= len(v.s) || v.s[v.i] != ':' {
				return false
			}
			v.i++
		}
		if !v.value(depth + 1) {
			return false
		}
		if v.i >= len(v.s) {
			return false
		}
		switch v.s[v.i] {
		case ',':
			v.i++
		case end:
			v.i++
			return true
		default:
			return false
		}
	}
}

func (v *canonicalValidator) literal(lit string) bool {
	if !strings.HasPrefix(v.s[v.i:], lit) {
		return false
	}
	v.i += len(lit)
	return true
}

// str checks the string at v.i (its opening quote) and moves past it. Like
// encoding/json, it does not check UTF-8; unlike it, it refuses what
// json.Marshal escapes (<, >, &, U+2028, U+2029).
func (v *canonicalValidator) str() bool {
	s := v.s
	for i := v.i + 1; i < len(s); i++ {
		if strPlain[s[i]] {
			continue // one load and a branch that is nearly always taken, not a comparison per case below
		}
		switch c := s[i]; {
		case c == '"':
			v.i = i + 1
			return true
		case c == '\\':
			i++
			if i >= len(s) {
				return false
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) || !isHex(s[i+3]) || !isHex(s[i+4]) {
					return false
				}
				i += 4
			default:
				return false
			}
		case c < 0x20, c == '<', c == '>', c == '&':
			return false
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
			return false
		}
	}
	return false
}

// strPlain is true for the bytes str passes over without a second look:
// all but a quote, a backslash, a control character, '<', '>', '&' and
// 0xE2 (the first byte of U+2028 and U+2029).
var strPlain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' && c != 0xE2
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number checks the number at v.i and moves past it: -?(0|[1-9][0-9]*)
// (.[0-9]+)?([eE][+-]?[0-9]+)?
func (v *canonicalValidator) number() bool {
	s, i := v.s, v.i
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = skipDigits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		end := skipDigits(s, i+1)
		if end == i+1 {
			return false
		}
		i = end
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		end := skipDigits(s, i)
		if end == i {
			return false
		}
		i = end
	}
	v.i = i
	return true
}

// skipDigits returns the index of the first byte from i on that is not a
// decimal digit.
func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// ScanPlainString reports whether s begins with the contents of a JSON
// string, up to its closing quote, that json.Marshal writes as they are:
// valid UTF-8 without a backslash, a control character or a character it
// escapes (<, >, &, U+2028, U+2029). The string's value is then s[:n], and
// s[n] is the closing quote. Such a string reads back as the same bytes,
// and AppendString writes them back as they were.
func ScanPlainString(s string) (n int, ok bool) {
	for i := 0; i < len(s); {
		if plainASCII[s[i]] {
			i++
			continue
		}
		switch c := s[i]; {
		case c == '"':
			return i, true
		case c < utf8.RuneSelf:
			return 0, false
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			return 0, false
		}
		i += size
	}
	return 0, false
}

// plainASCII[c] says whether json.Marshal writes the ASCII character c as
// it is, in a string, and c is not its closing quote.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
