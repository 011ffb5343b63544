package core

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// A "flat" payload type is a plain struct (see plain.go) whose fields are all
// booleans, strings, integers or floats, named by simple JSON names, with no
// tag option but omitempty. Payloads of these types are encoded and decoded
// here, field by field, instead of by encoding/json's reflection walk: five
// to ten times faster, and byte-for-byte what encoding/json writes and reads
// (FuzzFlatEncode and FuzzFlatDecode check it against encoding/json).
//
// The decoder handles the common case only: keys that match a field name
// exactly, strings without escapes, numbers that fit. Anything else (an
// escape, a key in another case, an unknown key, null, a type mismatch) makes
// it give up, and the caller decodes with encoding/json from a zero value.

// flatField is one field of a flat struct.
type flatField struct {
	name      string // the JSON name
	key       string // `"name":`
	offset    uintptr
	kind      reflect.Kind
	omitEmpty bool
}

// flatCodec encodes and decodes one flat struct type.
type flatCodec struct {
	fields []flatField
	size   int // a guess of the encoded size, to allocate once
}

var flatCodecs sync.Map // reflect.Type → *flatCodec (nil: the type is not flat)

// flatCodecFor returns the codec for t, or nil if t is not flat.
func flatCodecFor(t reflect.Type) *flatCodec {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if c, ok := flatCodecs.Load(t); ok {
		return c.(*flatCodec)
	}
	c := newFlatCodec(t)
	flatCodecs.Store(t, c)
	return c
}

func newFlatCodec(t reflect.Type) *flatCodec {
	if !isPlainObject(t) {
		return nil
	}
	c := &flatCodec{size: 2}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return nil
		}
		switch f.Type.Kind() {
		case reflect.Bool, reflect.String,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
		default:
			return nil
		}
		tag, hasTag := f.Tag.Lookup("json")
		name, opts, _ := strings.Cut(tag, ",")
		if hasTag && opts != "" && opts != "omitempty" {
			return nil
		}
		if name == "" {
			name = f.Name
		}
		if !isSimpleJSONName(name) {
			return nil
		}
		c.fields = append(c.fields, flatField{
			name:      name,
			key:       `"` + name + `":`,
			offset:    f.Offset,
			kind:      f.Type.Kind(),
			omitEmpty: opts == "omitempty",
		})
		c.size += len(name) + 4 + 16
	}
	return c
}

// isSimpleJSONName reports whether name needs neither escaping nor
// encoding/json's tag-name rules: letters, digits, '_' and '-' only. A Go
// field name with other letters (Unicode) is left to encoding/json too.
func isSimpleJSONName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// efaceData returns the address of the value held in v. Only for values of
// flat types: they are never pointer-shaped, so an interface holds a pointer
// to a copy of them.
func efaceData(v *any) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(v))[1]
}

// encode appends the JSON object for the struct at p, exactly as json.Marshal
// writes it. It returns false, having appended an unspecified part, for a NaN
// or infinite float, which encoding/json refuses. Whether the JSON decodes
// back to the same value is encodable's business.
func (c *flatCodec) encode(b []byte, p unsafe.Pointer) (out []byte, ok bool) {
	b = append(b, '{')
	first := true
	for i := range c.fields {
		f := &c.fields[i]
		ptr := unsafe.Add(p, f.offset)
		switch f.kind {
		case reflect.String:
			s := *(*string)(ptr)
			if f.omitEmpty && s == "" {
				continue
			}
			b = appendKey(b, f.key, &first)
			b = appendJSONString(b, s)
		case reflect.Bool:
			v := *(*bool)(ptr)
			if f.omitEmpty && !v {
				continue
			}
			b = appendKey(b, f.key, &first)
			b = strconv.AppendBool(b, v)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			v := loadInt(ptr, f.kind)
			if f.omitEmpty && v == 0 {
				continue
			}
			b = appendKey(b, f.key, &first)
			b = strconv.AppendInt(b, v, 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v := loadUint(ptr, f.kind)
			if f.omitEmpty && v == 0 {
				continue
			}
			b = appendKey(b, f.key, &first)
			b = strconv.AppendUint(b, v, 10)
		case reflect.Float32, reflect.Float64:
			v, bits := loadFloat(ptr, f.kind)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return b, false
			}
			if f.omitEmpty && v == 0 {
				continue
			}
			b = appendKey(b, f.key, &first)
			b = appendJSONFloat(b, v, bits)
		}
	}
	return append(b, '}'), true
}

// encodable reports whether encode would succeed on the struct at p and the
// JSON decode back to the same value: no NaN or infinity, no invalid UTF-8
// (written as U+FFFD), no negative zero left out by omitempty (it would come
// back positive). That is what lets an event keep the value and encode it
// later, byte for byte as now.
func (c *flatCodec) encodable(p unsafe.Pointer) bool {
	for i := range c.fields {
		f := &c.fields[i]
		ptr := unsafe.Add(p, f.offset)
		switch f.kind {
		case reflect.String:
			if !validUTF8(*(*string)(ptr)) {
				return false
			}
		case reflect.Float32, reflect.Float64:
			v, _ := loadFloat(ptr, f.kind)
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

func loadInt(p unsafe.Pointer, k reflect.Kind) int64 {
	switch k {
	case reflect.Int8:
		return int64(*(*int8)(p))
	case reflect.Int16:
		return int64(*(*int16)(p))
	case reflect.Int32:
		return int64(*(*int32)(p))
	case reflect.Int64:
		return *(*int64)(p)
	}
	return int64(*(*int)(p))
}

// loadFloat returns the float at p and its size in bits.
func loadFloat(p unsafe.Pointer, k reflect.Kind) (float64, int) {
	if k == reflect.Float32 {
		return float64(*(*float32)(p)), 32
	}
	return *(*float64)(p), 64
}

func loadUint(p unsafe.Pointer, k reflect.Kind) uint64 {
	switch k {
	case reflect.Uint8:
		return uint64(*(*uint8)(p))
	case reflect.Uint16:
		return uint64(*(*uint16)(p))
	case reflect.Uint32:
		return uint64(*(*uint32)(p))
	case reflect.Uint64:
		return *(*uint64)(p)
	}
	return uint64(*(*uint)(p))
}

// appendJSONFloat formats f as encoding/json does: the shortest
// representation, in exponent form only for very small or large magnitudes,
// with a two-digit negative exponent cut to one ("1e-7", not "1e-07").
func appendJSONFloat(b []byte, f float64, bits int) []byte {
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

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (HTML characters included, invalid UTF-8 as U+FFFD).
func appendJSONString(b []byte, s string) []byte {
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

// decode sets the zero struct at p from s, as json.Unmarshal would, and
// reports whether it could. s must be valid JSON, as every payload is; then
// a number-like token is a JSON number. On false, the struct is partly set and
// the caller must start again from a zero value with encoding/json. Decoded
// strings share s's memory.
func (c *flatCodec) decode(p unsafe.Pointer, s string) bool {
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
		ptr := unsafe.Add(p, field.offset)
		// Value.
		var ok bool
		switch field.kind {
		case reflect.String:
			i, ok = decodeString(ptr, s, i)
		case reflect.Bool:
			switch {
			case strings.HasPrefix(s[i:], "true"):
				*(*bool)(ptr) = true
				i, ok = i+4, true
			case strings.HasPrefix(s[i:], "false"):
				*(*bool)(ptr) = false
				i, ok = i+5, true
			}
		default:
			end := numberEnd(s, i)
			ok = end > i && storeNumber(ptr, field.kind, s[i:end])
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
func (c *flatCodec) field(key string, hint int) int {
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

// decodeString reads the JSON string at s[i:] into the string at p, if it
// has no escapes and is valid UTF-8, and returns the index after it.
func decodeString(p unsafe.Pointer, s string, i int) (int, bool) {
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
	*(*string)(p) = v
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

// storeNumber parses tok into the number at p, as encoding/json does, and
// reports whether it fits. tok is a JSON number (or decode gives up later).
func storeNumber(p unsafe.Pointer, k reflect.Kind, tok string) bool {
	if tok[0] != '-' && (tok[0] < '0' || tok[0] > '9') || tok[0] == '-' && len(tok) == 1 {
		return false
	}
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := intBits(k)
		n, err := strconv.ParseInt(tok, 10, bits)
		if err != nil {
			return false
		}
		switch k {
		case reflect.Int8:
			*(*int8)(p) = int8(n)
		case reflect.Int16:
			*(*int16)(p) = int16(n)
		case reflect.Int32:
			*(*int32)(p) = int32(n)
		case reflect.Int64:
			*(*int64)(p) = n
		default:
			*(*int)(p) = int(n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(tok, 10, intBits(k))
		if err != nil {
			return false
		}
		switch k {
		case reflect.Uint8:
			*(*uint8)(p) = uint8(n)
		case reflect.Uint16:
			*(*uint16)(p) = uint16(n)
		case reflect.Uint32:
			*(*uint32)(p) = uint32(n)
		case reflect.Uint64:
			*(*uint64)(p) = n
		default:
			*(*uint)(p) = uint(n)
		}
	case reflect.Float32:
		n, err := strconv.ParseFloat(tok, 32)
		if err != nil {
			return false
		}
		*(*float32)(p) = float32(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return false
		}
		*(*float64)(p) = n
	default:
		return false
	}
	return true
}

func intBits(k reflect.Kind) int {
	switch k {
	case reflect.Int8, reflect.Uint8:
		return 8
	case reflect.Int16, reflect.Uint16:
		return 16
	case reflect.Int32, reflect.Uint32:
		return 32
	case reflect.Int64, reflect.Uint64:
		return 64
	}
	return strconv.IntSize
}
