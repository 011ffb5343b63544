package jsonfast

import (
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// Encode appends the JSON object for v, a value of c's type, exactly as
// json.Marshal writes it. It returns false, having appended an unspecified
// part, for a NaN or infinite float, which encoding/json refuses. Whether the
// JSON decodes back to the same value is Encodable's business.
func (c *Codec) Encode(b []byte, v any) (out []byte, ok bool) {
	c.checkValue(v)
	p := addrHeld(&v)
	b = append(b, '{')
	first := true
	for i := range c.fields {
		f := &c.fields[i]
		a := p.field(f.offset)
		switch f.kind {
		case reflect.String:
			s := a.loadString()
			if f.omitEmpty && s == "" {
				continue
			}
			b = appendKey(b, f.key, &first)
			b = AppendString(b, s)
		case reflect.Bool:
			v := a.loadBool()
			if f.omitEmpty && !v {
				continue
			}
			b = appendKey(b, f.key, &first)
			b = strconv.AppendBool(b, v)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			v := a.loadInt(f.kind)
			if f.omitEmpty && v == 0 {
				continue
			}
			b = appendKey(b, f.key, &first)
			b = strconv.AppendInt(b, v, 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v := a.loadUint(f.kind)
			if f.omitEmpty && v == 0 {
				continue
			}
			b = appendKey(b, f.key, &first)
			b = strconv.AppendUint(b, v, 10)
		case reflect.Float32, reflect.Float64:
			v, bits := a.loadFloat(f.kind)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return b, false
			}
			if f.omitEmpty && v == 0 {
				continue
			}
			b = appendKey(b, f.key, &first)
			b = appendFloat(b, v, bits)
		}
	}
	return append(b, '}'), true
}

// Encodable reports whether Encode would succeed on v, a value of c's type,
// and the JSON decode back to the same value: no NaN or infinity, no invalid
// UTF-8 (written as U+FFFD), no negative zero left out by omitempty (it
// would come back positive). Then a caller may keep v and encode it later,
// byte for byte as now.
func (c *Codec) Encodable(v any) bool {
	c.checkValue(v)
	p := addrHeld(&v)
	for i := range c.fields {
		f := &c.fields[i]
		a := p.field(f.offset)
		switch f.kind {
		case reflect.String:
			if !validUTF8(a.loadString()) {
				return false
			}
		case reflect.Float32, reflect.Float64:
			v, _ := a.loadFloat(f.kind)
			if math.IsNaN(v) || math.IsInf(v, 0) || f.omitEmpty && v == 0 && math.Signbit(v) {
				return false
			}
		}
	}
	return true
}

// validUTF8 is utf8.ValidString with a quicker path for the short ASCII
// strings payloads mostly hold (ValidString is quicker on long ones).
func validUTF8(s string) bool {
	if len(s) > 32 {
		return utf8.ValidString(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.ValidString(s[i:])
		}
	}
	return true
}

func appendKey(b []byte, key string, first *bool) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	return append(b, key...)
}

// appendFloat formats f as encoding/json does: the shortest representation,
// in exponent form only for very small or large magnitudes, with a two-digit
// negative exponent cut to one ("1e-7", not "1e-07").
func appendFloat(b []byte, f float64, bits int) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// AppendString appends s as a JSON string, escaped as encoding/json escapes
// it (HTML characters included, invalid UTF-8 as U+FFFD).
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
