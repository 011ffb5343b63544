package jsonfast

import (
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Decode sets *dst, a zero value of c's type, from s, as json.Unmarshal
// would, and reports whether it could. s must be valid JSON, as every
// payload is. On false, *dst is partly set: the caller starts again from a
// zero value with encoding/json. Decoded strings share s's memory. dst does
// not escape, so a caller's variable can stay on its stack.
func Decode[T any](c *Codec, dst *T, s string) bool {
	return c.decode(dst, s) // a wrapper the compiler inlines; decode is not generic
}

// DecodeValue is Decode for ptr, a non-nil pointer to a zero value of c's
// type, held in a reflect.Value.
func (c *Codec) DecodeValue(ptr reflect.Value, s string) bool {
	return c.decode(ptr.Interface(), s)
}

// decode is Decode for dst, a pointer held in an interface. The decoder
// handles the common case only: keys that match a field name exactly,
// strings without escapes, numbers that fit. Anything else (an escape, a
// key in another case, an unknown key, null, a type mismatch) makes it give
// up. As s is valid JSON, a number-like token is a JSON number.
func (c *Codec) decode(dst any, s string) bool {
	c.checkPointer(dst)
	p := addrHeld(&dst)
	if len(s) < 2 || s[0] != '{' {
		return false
	}
	i := 1
	if s[i] == '}' {
		return i+1 == len(s)
	}
	next := 0 // the field expected next: keys usually come in field order
	for {
		// Key.
		if i >= len(s) || s[i] != '"' {
			return false
		}
		i++
		start := i
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' || s[i] >= utf8.RuneSelf {
				return false
			}
			i++
		}
		if i+1 >= len(s) || s[i+1] != ':' {
			return false
		}
		key := s[start:i]
		i += 2
		f := c.field(key, next)
		if f < 0 {
			return false
		}
		next = f + 1
		field := &c.fields[f]
		a := p.field(field.offset)
		// Value.
		var ok bool
		switch field.kind {
		case reflect.String:
			i, ok = decodeString(a, s, i)
		case reflect.Bool:
			switch {
			case strings.HasPrefix(s[i:], "true"):
				a.storeBool(true)
				i, ok = i+4, true
			case strings.HasPrefix(s[i:], "false"):
				a.storeBool(false)
				i, ok = i+5, true
			}
		default:
			end := numberEnd(s, i)
			ok = end > i && storeNumber(a, field.kind, s[i:end])
			i = end
		}
		if !ok || i >= len(s) {
			return false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return i+1 == len(s)
		default:
			return false
		}
	}
}

// field returns the index of the field named exactly key, trying hint first,
// or -1.
func (c *Codec) field(key string, hint int) int {
	if hint < len(c.fields) && c.fields[hint].name == key {
		return hint
	}
	for j := range c.fields {
		if c.fields[j].name == key {
			return j
		}
	}
	return -1
}

// decodeString reads the JSON string at s[i:] into the string at a, if it
// has no escapes and is valid UTF-8, and returns the index after it.
func decodeString(a addr, s string, i int) (int, bool) {
	if i >= len(s) || s[i] != '"' {
		return i, false
	}
	i++
	start := i
	ascii := true
	for i < len(s) && s[i] != '"' {
		c := s[i]
		if c == '\\' || c < 0x20 {
			return i, false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
		i++
	}
	if i >= len(s) {
		return i, false
	}
	v := s[start:i]
	if !ascii && !utf8.ValidString(v) {
		return i, false // encoding/json would replace the bad bytes
	}
	a.storeString(v)
	return i + 1, true
}

// numberEnd returns the end of the number-like token at s[i:].
func numberEnd(s string, i int) int {
	for i < len(s) {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			i++
		default:
			return i
		}
	}
	return i
}

// storeNumber parses tok into the number of kind k at a, as encoding/json
// does, and reports whether it fits. tok is a JSON number (or decode gives
// up later).
func storeNumber(a addr, k reflect.Kind, tok string) bool {
	if tok[0] != '-' && (tok[0] < '0' || tok[0] > '9') || tok[0] == '-' && len(tok) == 1 {
		return false
	}
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(tok, 10, bitSize(k))
		if err != nil {
			return false
		}
		a.storeInt(k, n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(tok, 10, bitSize(k))
		if err != nil {
			return false
		}
		a.storeUint(k, n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(tok, bitSize(k))
		if err != nil {
			return false
		}
		a.storeFloat(k, n)
	default:
		return false
	}
	return true
}

// bitSize returns the size in bits of a number of kind k.
func bitSize(k reflect.Kind) int {
	switch k {
	case reflect.Int8, reflect.Uint8:
		return 8
	case reflect.Int16, reflect.Uint16:
		return 16
	case reflect.Int32, reflect.Uint32, reflect.Float32:
		return 32
	case reflect.Int64, reflect.Uint64, reflect.Float64:
		return 64
	}
	return strconv.IntSize
}
