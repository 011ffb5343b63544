package core

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// Bounds on an event's headers.
const (
	// MaxHeaders bounds the number of an event's headers.
	MaxHeaders = 32
	// MaxHeaderBytes bounds the length of an event's header names and
	// values, all added up, in bytes.
	MaxHeaderBytes = 4096
)

// An event holds its headers as their wire form: the JSON object AppendJSON
// writes, names sorted, compact, every string escaped as encoding/json
// escapes it; "" when there are none. One set of headers has one text, so
// comparing texts compares headers, the encoder copies the text, and the
// fast decoder takes it from its input without a copy.

// Header returns the value of e's header name, or "" when it has none.
// Names are compared exactly, case included.
func (e Event) Header(name string) string {
	for c := (headerCursor{rest: e.headerText()}); ; {
		n, v, ok := c.next()
		if !ok || n > name { // names are sorted
			return ""
		}
		if n == name {
			return v
		}
	}
}

// Headers returns a copy of e's headers, or nil when it has none.
func (e Event) Headers() map[string]string {
	if e.headerText() == "" {
		return nil
	}
	h := make(map[string]string)
	for c := (headerCursor{rest: e.headerText()}); ; {
		n, v, ok := c.next()
		if !ok {
			return h
		}
		h[n] = v
	}
}

// WithHeaders returns a copy of e with the headers in h added, replacing
// those of e by the same names, for instrumentation that injects trace
// context into the events an organ emits. The result is validated as Build
// validates EventInit.Headers. h is copied.
func (e Event) WithHeaders(h map[string]string) (Event, error) {
	if len(h) == 0 {
		return e, nil
	}
	all := e.Headers()
	if all == nil {
		all = make(map[string]string, len(h))
	}
	maps.Copy(all, h)
	text, err := encodeHeaders(all)
	if err != nil {
		return Event{}, err
	}
	e.setExt(e.key(), text)
	return e, nil
}

// encodeHeaders validates h and returns its canonical text, "" for none.
func encodeHeaders(h map[string]string) (string, error) {
	if len(h) == 0 {
		return "", nil
	}
	if len(h) > MaxHeaders {
		return "", invalid("headers", fmt.Sprintf("%d entries, more than MaxHeaders (%d)", len(h), MaxHeaders), nil)
	}
	names := slices.Sorted(maps.Keys(h))
	size := 0
	for _, n := range names {
		v := h[n]
		switch {
		case n == "":
			return "", invalid("headers", "a name is empty", nil)
		case !utf8.ValidString(n):
			return "", invalid("headers", fmt.Sprintf("the name %q is not valid UTF-8", truncate(n)), nil)
		case !utf8.ValidString(v):
			return "", invalid("headers", fmt.Sprintf("the value of %q is not valid UTF-8", truncate(n)), nil)
		}
		size += len(n) + len(v)
	}
	if size > MaxHeaderBytes {
		return "", invalid("headers", fmt.Sprintf("%d bytes of names and values, more than MaxHeaderBytes (%d)", size, MaxHeaderBytes), nil)
	}
	b := make([]byte, 0, size+6*len(names)+2)
	b = append(b, '{')
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonfast.AppendString(b, n)
		b = append(b, ':')
		b = jsonfast.AppendString(b, h[n])
	}
	return string(append(b, '}')), nil
}

// headerCursor reads the names and values of a canonical header text in
// order. A string without escapes is returned as a part of the text.
type headerCursor struct{ rest string }

// next returns the next name and value, or false at the end.
func (c *headerCursor) next() (name, value string, ok bool) {
	if len(c.rest) < 2 || c.rest[0] == '}' {
		return "", "", false
	}
	s := c.rest[1:] // past '{' or ','
	name, s = cutString(s)
	value, s = cutString(s[1:]) // past ':'
	c.rest = s
	return name, value, true
}

// cutString returns the value of the JSON string at the start of s, which
// holds a canonical header text, and what follows it.
func cutString(s string) (value, rest string) {
	escaped := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			if !escaped {
				return s[1:i], s[i+1:]
			}
			var v string
			_ = json.Unmarshal([]byte(s[:i+1]), &v) // the text is valid JSON
			return v, s[i+1:]
		}
	}
	return "", "" // not reached: the text is valid JSON
}
