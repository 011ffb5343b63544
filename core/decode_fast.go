package core

import (
	"strings"
	"time"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

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
	parsed, err := time.Parse(time.RFC3339Nano, tsText)
	if err != nil {
		return Event{}, false
	}
	ts, err := utcTimestamp(parsed)
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
	// The payload is nested in the event object: one level deeper, for
	// encoding/json's nesting limit, than it is on its own.
	if payload[0] != '{' {
		return Event{}, false
	}
	if n, ok := jsonfast.ScanCanonical(payload, 1); !ok || n != len(payload) {
		return Event{}, false
	}
	return Event{id: id, timestamp: ts, eventType: typ, payload: payload}, true
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
