package jsonfast

import (
	"reflect"
	"strings"
	"sync"
)

// Codec encodes and decodes the values of one flat struct type. It is
// immutable, and safe for concurrent use.
type Codec struct {
	typ    reflect.Type
	id     typeID // of typ, for checkValue
	ptrID  typeID // of a pointer to typ, for checkPointer
	fields []field
	size   int
}

// field is one field of a flat struct.
type field struct {
	name      string // the JSON name
	key       string // `"name":`
	offset    uintptr
	kind      reflect.Kind
	omitEmpty bool
}

var codecs sync.Map // reflect.Type → *Codec (nil: the type is not flat)

// For returns the codec of t, or nil if t is not a flat struct type.
func For(t reflect.Type) *Codec {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if c, ok := codecs.Load(t); ok {
		return c.(*Codec)
	}
	c := newCodec(t)
	codecs.Store(t, c)
	return c
}

// Size returns a guess of the length of an encoded value, to allocate once.
func (c *Codec) Size() int { return c.size }

func newCodec(t reflect.Type) *Codec {
	if !isPlainObject(t) {
		return nil
	}
	ptr := reflect.New(t)
	c := &Codec{typ: t, id: typeIDOf(ptr.Elem().Interface()), ptrID: typeIDOf(ptr.Interface()), size: 2}
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
		c.fields = append(c.fields, field{
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

// The checks panic unless they are handed a value of c's type (or a
// pointer to one): the codec reads and writes memory at its type's field
// offsets.

func (c *Codec) checkValue(v any) {
	if typeIDOf(v) != c.id {
		c.mismatch(v)
	}
}

func (c *Codec) checkPointer(p any) {
	if typeIDOf(p) != c.ptrID {
		c.mismatch(p)
	}
}

func (c *Codec) mismatch(v any) {
	got := "nil"
	if t := reflect.TypeOf(v); t != nil {
		got = t.String()
	}
	panic("jsonfast: the codec of " + c.typ.String() + " used on a " + got)
}
