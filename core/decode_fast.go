package core

import (
	"encoding/json"
	"strings"
	"time"
	"unsafe"
)

// validJSON is json.Valid on a string, without copying it: json.Valid only
// reads its argument.
func validJSON(s string) bool {
	return json.Valid(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// decodeCanonical reads the wire form exactly as AppendJSON writes it:
// fields in order, no spaces, a lowercase canonical id, a UTC timestamp, a
// compact payload escaped as encoding/json escapes it. That is what
// NecroStack's own backends carry, and reading it needs no reflection. It
// returns false for anything else, valid or not, and DecodeEvent then takes
// the strict decoder, so the two agree on every input (FuzzDecodeCanonical
// checks it).
func decodeCanonical(data []byte) (Event, bool) {
	return decodeCanonicalString(string(data))
}

// decodeCanonicalString is decodeCanonical on a string, whose fields the
// event then shares: one allocation less per field.
func decodeCanonicalString(data string) (Event, bool) {
	rest, ok := strings.CutPrefix(data, `{"id":"`)
	if !ok || len(rest) < 36 {
		return Event{}, false
	}
	id := rest[:36]
	if !isCanonicalUUID(id) {
		return Event{}, false
	}
	rest, ok = strings.CutPrefix(rest[36:], `","timestamp":"`)
	if !ok {
		return Event{}, false
	}
	end := strings.IndexByte(rest, '"')
	if end < 0 {
		return Event{}, false
	}
	tsText := rest[:end]
	// Only the UTC form AppendJSON writes; offsets take the strict path.
	if len(tsText) == 0 || tsText[len(tsText)-1] != 'Z' {
		return Event{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, tsText)
	if err != nil {
		return Event{}, false
	}
	rest, ok = strings.CutPrefix(rest[end:], `","event_type":"`)
	if !ok {
		return Event{}, false
	}
	end = strings.IndexByte(rest, '"')
	if end < 0 {
		return Event{}, false
	}
	typ := rest[:end]
	if ValidateEventType(typ) != nil {
		return Event{}, false
	}
	payload, ok := strings.CutPrefix(rest[end:], `","payload":`)
	if !ok || len(payload) < 3 || payload[len(payload)-1] != '}' {
		return Event{}, false
	}
	payload = payload[:len(payload)-1]
	if payload[0] != '{' || !isCanonicalJSON(payload) || !validJSON(payload) {
		return Event{}, false
	}
	return Event{id: id, timestamp: ts.UTC().Round(0), eventType: typ, payload: payload}, true
}

func isCanonicalUUID(b string) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
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
