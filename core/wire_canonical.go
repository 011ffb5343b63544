package core

import (
	"strings"
	"time"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// The fast decoder: the wire form as AppendJSON writes it, read without
// reflection. decodeStrict decides whatever it refuses.

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
// event then shares: one allocation less per field. It reads each field
// after the prefix AppendJSON writes before it, with constant prefixes (the
// compiler compares those without a call): an optional field is read the
// same way, when rest starts with its prefix.
func decodeCanonicalString(data string) (Event, bool) {
	rest, ok := strings.CutPrefix(data, `{"id":"`)
	if !ok || len(rest) < 36 || !isCanonicalID(rest[:36]) {
		return Event{}, false
	}
	id := rest[:36]
	rest, ok = strings.CutPrefix(rest[36:], `","timestamp":"`)
	if !ok {
		return Event{}, false
	}
	tsText, rest, ok := cutQuoted(rest)
	if !ok {
		return Event{}, false
	}
	ts, ok := canonicalTimestamp(tsText)
	if !ok {
		return Event{}, false
	}
	rest, ok = strings.CutPrefix(rest, `,"event_type":"`)
	if !ok {
		return Event{}, false
	}
	typ, rest, ok := cutQuoted(rest)
	if !ok || ValidateEventType(typ) != nil {
		return Event{}, false
	}
	rest, ok = strings.CutPrefix(rest, `,"payload":`)
	if !ok || rest == "" || rest[0] != '{' {
		return Event{}, false
	}
	// The payload is nested in the event object: one level deeper, for
	// encoding/json's nesting limit, than it is on its own.
	n, ok := jsonfast.ScanCanonical(rest, 1)
	if !ok || rest[n:] != "}" {
		return Event{}, false
	}
	return Event{id: id, timestamp: ts, eventType: typ, payload: rest[:n]}, true
}

// cutQuoted returns the text of s up to its first quote, and what follows
// the quote. It does not unescape: a caller whose value may hold a
// backslash must refuse it (no timestamp or event type holds one).
func cutQuoted(s string) (text, rest string, ok bool) {
	end := strings.IndexByte(s, '"')
	if end < 0 {
		return "", "", false
	}
	return s[:end], s[end+1:], true
}

// canonicalTimestamp parses the UTC timestamp AppendJSON writes. Offsets
// take the strict path.
func canonicalTimestamp(text string) (time.Time, bool) {
	if text == "" || text[len(text)-1] != 'Z' {
		return time.Time{}, false
	}
	parsed, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return time.Time{}, false
	}
	ts, err := utcTimestamp(parsed)
	return ts, err == nil
}
