package core

import (
	"strings"
	"time"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// The fast decoder: the wire form as AppendJSON writes it, read without
// reflection. decodeStrict decides whatever it refuses.

// decodeCanonical reads the wire form exactly as AppendJSON writes it:
// fields in order, no spaces, lowercase canonical ids, a UTC timestamp, a
// key and headers (names sorted) that need no escape, a compact payload
// escaped as encoding/json escapes it. That is what
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
	e := Event{id: jsonfast.RefID(id), timestamp: ts, eventType: typ}
	if !strings.HasPrefix(rest, `,"payload":`) {
		if rest, ok = e.cutLineage(rest); !ok {
			return Event{}, false
		}
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
	e.payload = rest[:n]
	return e, true
}

// cutLineage reads, at the start of rest, the optional fields AppendJSON
// writes after event_type into e, whose id is set, and returns what follows
// them. Like decodeCanonicalString, it refuses what AppendJSON does not
// write: an uppercase id, a correlation id equal to the event's own, a key
// or header with an escape (these take the strict path). It also refuses
// what is invalid (an event its own parent, a bound passed), which the
// strict decoder then rejects.
func (e *Event) cutLineage(rest string) (string, bool) {
	if r, ok := strings.CutPrefix(rest, `,"parent_id":"`); ok {
		if len(r) < 37 || r[36] != '"' || !isCanonicalID(r[:36]) || r[:36] == e.ID() {
			return "", false
		}
		e.parentID, rest = jsonfast.RefID(r[:36]), r[37:]
	}
	if r, ok := strings.CutPrefix(rest, `,"correlation_id":"`); ok {
		if len(r) < 37 || r[36] != '"' || !isCanonicalID(r[:36]) || r[:36] == e.ID() {
			return "", false
		}
		e.correlationID, rest = jsonfast.RefID(r[:36]), r[37:]
	}
	var key, headers string
	if r, ok := strings.CutPrefix(rest, `,"key":"`); ok {
		n, ok := jsonfast.ScanPlainString(r)
		if !ok || n == 0 || n > MaxKeyLen {
			return "", false
		}
		key, rest = r[:n], r[n+1:]
	}
	if r, ok := strings.CutPrefix(rest, `,"headers":`); ok {
		n, ok := scanHeaders(r)
		if !ok {
			return "", false
		}
		headers, rest = r[:n], r[n:]
	}
	e.setExt(key, headers)
	return rest, true
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
func canonicalTimestamp(text string) (utcTime, bool) {
	if text == "" || text[len(text)-1] != 'Z' {
		return utcTime{}, false
	}
	parsed, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return utcTime{}, false
	}
	ts, err := utcTimestamp(parsed)
	return ts, err == nil
}

// scanHeaders reads the header object at the start of s in the form
// AppendJSON writes when no name or value needs an escape, and returns its
// length. For anything else (an escape, names out of order or repeated, an
// empty object, a bound passed) it returns false, and the strict decoder
// decides.
func scanHeaders(s string) (n int, ok bool) {
	if !strings.HasPrefix(s, `{"`) {
		return 0, false
	}
	i, count, size, prev := 1, 0, 0, ""
	for {
		if i >= len(s) || s[i] != '"' {
			return 0, false
		}
		nameLen, ok := jsonfast.ScanPlainString(s[i+1:])
		if !ok || nameLen == 0 {
			return 0, false
		}
		name := s[i+1 : i+1+nameLen]
		if count > 0 && name <= prev {
			return 0, false
		}
		i += nameLen + 2
		if !strings.HasPrefix(s[i:], `:"`) {
			return 0, false
		}
		valueLen, ok := jsonfast.ScanPlainString(s[i+2:])
		if !ok {
			return 0, false
		}
		i += valueLen + 3
		count, size, prev = count+1, size+nameLen+valueLen, name
		if count > MaxHeaders || size > MaxHeaderBytes || i >= len(s) {
			return 0, false
		}
		switch s[i] {
		case ',':
			i++
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}
