package jsonfast

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// A "plain" type round-trips through encoding/json unchanged: decoding the
// JSON of a value gives back an equal value. Plain types hold no references
// (so a copy of a value is immutable), no custom (un)marshalling, and no
// fields JSON would skip.

var plainTypes sync.Map // reflect.Type → bool

var (
	jsonMarshaler   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// isPlainObject reports whether t is a plain struct type: its values
// round-trip through encoding/json, but for the two exceptions RoundTrips
// names.
func isPlainObject(t reflect.Type) bool {
	if t == nil || t.Kind() != reflect.Struct {
		return false
	}
	if v, ok := plainTypes.Load(t); ok {
		return v.(bool)
	}
	ok := isPlain(t, 0) && uniqueJSONNames(t, map[string]bool{}, 0)
	plainTypes.Store(t, ok)
	return ok
}

var roundTripTypes sync.Map // reflect.Type → bool

// RoundTrips reports whether t is a struct type whose values come back equal
// from json.Marshal and json.Unmarshal, save strings holding invalid UTF-8
// (written as U+FFFD): t is plain, and no float field is omitempty, since a
// negative zero would be left out and come back positive. For a flat type,
// Codec.Encodable tells the same of one value, those cases included.
func RoundTrips(t reflect.Type) bool {
	if !isPlainObject(t) {
		return false
	}
	if v, ok := roundTripTypes.Load(t); ok {
		return v.(bool)
	}
	ok := !omitsFloat(t, 0)
	roundTripTypes.Store(t, ok)
	return ok
}

// omitsFloat reports whether t has a float field with omitempty, at any
// depth.
func omitsFloat(t reflect.Type, depth int) bool {
	switch {
	case depth > 16:
		return true
	case t.Kind() == reflect.Array:
		return omitsFloat(t.Elem(), depth+1)
	case t.Kind() != reflect.Struct:
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		k := f.Type.Kind()
		if (k == reflect.Float32 || k == reflect.Float64) && strings.Contains(","+opts+",", ",omitempty,") {
			return true
		}
		if omitsFloat(f.Type, depth+1) {
			return true
		}
	}
	return false
}

// uniqueJSONNames reports whether the JSON names of t's fields, embedded
// structs flattened as encoding/json flattens them, are all distinct, even
// ignoring case (decoding matches names without regard to case). With a
// clash, JSON drops or mixes fields and a value would not come back equal.
func uniqueJSONNames(t reflect.Type, seen map[string]bool, depth int) bool {
	if depth > 16 {
		return false
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			if !uniqueJSONNames(f.Type, seen, depth+1) {
				return false
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		key := strings.ToLower(name)
		if seen[key] {
			return false
		}
		seen[key] = true
	}
	return true
}

func isPlain(t reflect.Type, depth int) bool {
	if depth > 16 {
		return false
	}
	if t == reflect.TypeFor[json.Number]() { // encoded as a number: "" becomes 0
		return false
	}
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) ||
		reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Array:
		// [N]byte would encode as an array of numbers: fine, and plain.
		return isPlain(t.Elem(), depth+1)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				return false // JSON skips these (or, embedded, promotes their fields)
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || strings.Contains(","+opts+",", ",omitzero,") {
				return false // omitzero may drop a value that is not zero (IsZero methods)
			}
			if !isPlain(f.Type, depth+1) {
				return false
			}
		}
		return true
	}
	return false // pointers, maps, slices, interfaces, channels, funcs, complex
}
