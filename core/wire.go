package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// decodeWire uses pointers to tell a missing field from an empty one (null
// reads as missing), and raw values for the fields whose errors it words
// itself.
type decodeWire struct {
	ID            *string         `json:"id"`
	Timestamp     *string         `json:"timestamp"`
	EventType     *string         `json:"event_type"`
	ParentID      *string         `json:"parent_id"`
	CorrelationID *string         `json:"correlation_id"`
	Key           json.RawMessage `json:"key"`
	Headers       json.RawMessage `json:"headers"`
	Payload       json.RawMessage `json:"payload"`
}

// MarshalJSON encodes the wire form:
//
//	{"id":"…","timestamp":"RFC3339Nano UTC","event_type":"…","parent_id":"…",
//	 "correlation_id":"…","key":"…","headers":{"name":"value",…},"payload":{…}}
//
// with parent_id, correlation_id, key and headers only when e has them, and
// headers in the order of their names.
func (e Event) MarshalJSON() ([]byte, error) {
	if e.IsZero() {
		return nil, invalid("", "cannot encode the zero Event", nil)
	}
	// The fixed text is 61 bytes; a timestamp at most 35.
	n := len(e.payload)
	c := e.flatCodec()
	if c != nil {
		n = c.Size()
	}
	if e.hasLineage() {
		// Names and quotes: 55 bytes; an escaped key grows.
		n += 55 + 2*36 + 2*len(e.key()) + len(e.headerText())
	}
	return e.appendJSON(make([]byte, 0, 96+36+len(e.eventType)+n), c), nil
}

// AppendJSON appends the wire form of e to b. It is MarshalJSON without the
// allocation, for backends that batch.
func (e Event) AppendJSON(b []byte) []byte { return e.appendJSON(b, e.flatCodec()) }

// appendJSON is AppendJSON with e's flatCodec, found already.
func (e Event) appendJSON(b []byte, c *jsonfast.Codec) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, e.ID()...)
	b = append(b, `","timestamp":"`...)
	b = e.Timestamp().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","event_type":"`...)
	b = append(b, e.eventType...) // UPPER_SNAKE_CASE needs no escaping
	b = append(b, '"')
	if e.hasLineage() {
		b = e.appendLineage(b)
	}
	b = append(b, `,"payload":`...)
	return append(e.appendPayloadWith(b, c), '}')
}

// hasLineage reports whether e has any of the optional fields.
func (e Event) hasLineage() bool {
	return !e.parentID.IsZero() || !e.correlationID.IsZero() || e.ext != nil
}

// appendLineage appends the optional fields that e has.
func (e Event) appendLineage(b []byte) []byte {
	if !e.parentID.IsZero() {
		b = append(b, `,"parent_id":"`...)
		b = append(b, e.parentID.String()...)
		b = append(b, '"')
	}
	if !e.correlationID.IsZero() {
		b = append(b, `,"correlation_id":"`...)
		b = append(b, e.correlationID.String()...)
		b = append(b, '"')
	}
	if k := e.key(); k != "" {
		b = append(b, `,"key":`...)
		b = jsonfast.AppendString(b, k)
	}
	if h := e.headerText(); h != "" {
		b = append(b, `,"headers":`...)
		b = append(b, h...)
	}
	return b
}

// UnmarshalJSON decodes the wire form strictly; see DecodeEvent.
func (e *Event) UnmarshalJSON(data []byte) error {
	d, err := DecodeEvent(data)
	if err != nil {
		return err
	}
	*e = d
	return nil
}

// DecodeEvent parses the JSON wire form. It is strict: unknown fields,
// missing id, timestamp or event_type, an id that is not a UUID, a payload
// that is not an object and trailing data are all errors matching
// ErrInvalidEvent. A timestamp with an offset is accepted and converted to
// UTC. The id is required because it is the idempotency key: inventing one
// for a redelivered message would make every delivery look new.
//
// The optional fields are validated as Build validates them: parent_id
// and correlation_id are UUIDs (in any case, kept in lowercase), key is
// a non-empty string and headers an object of strings within their bounds,
// and the key and headers must be valid UTF-8 (not replaced, as
// encoding/json would). Null reads as absent, and so do empty headers; a
// correlation_id equal to the id is a seed's, and dropped. An event with
// only the four original fields is a seed without a key or headers.
func DecodeEvent(data []byte) (Event, error) {
	if e, ok := decodeCanonical(data); ok {
		return e, nil
	}
	return decodeStrict(data)
}

// DecodeEventString is DecodeEvent for a wire form held in a string, as
// client libraries hand replies over: the Redis backend decodes go-redis's
// string replies with it. An event in the form AppendJSON writes then shares
// the string's memory, where DecodeEvent copies its input.
func DecodeEventString(data string) (Event, error) {
	if e, ok := decodeCanonicalString(data); ok {
		return e, nil
	}
	return decodeStrict([]byte(data))
}

// decodeStrict is DecodeEvent for any input.
func decodeStrict(data []byte) (Event, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w decodeWire
	if err := dec.Decode(&w); err != nil {
		return Event{}, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Event{}, invalid("", "trailing data after the JSON object", nil)
	}
	return w.event()
}

// event validates w and returns the event it holds.
func (w *decodeWire) event() (Event, error) {
	if w.ID == nil {
		return Event{}, invalid("id", "missing", nil)
	}
	if w.Timestamp == nil {
		return Event{}, invalid("timestamp", "missing", nil)
	}
	if w.EventType == nil {
		return Event{}, invalid("event_type", "missing", nil)
	}
	if err := ValidateEventType(*w.EventType); err != nil {
		return Event{}, err
	}
	id, err := parseID(*w.ID)
	if err != nil {
		return Event{}, err
	}
	parsed, err := time.Parse(time.RFC3339Nano, *w.Timestamp)
	if err != nil {
		return Event{}, invalid("timestamp", fmt.Sprintf("%q is not RFC 3339", truncate(*w.Timestamp)), err)
	}
	ts, err := utcTimestamp(parsed)
	if err != nil {
		return Event{}, err
	}
	e := Event{id: jsonfast.RefID(id), timestamp: ts, eventType: *w.EventType}
	if err := w.setLineage(&e); err != nil {
		return Event{}, err
	}
	if e.payload, err = canonicalObject(w.Payload); err != nil {
		return Event{}, err
	}
	return e, nil
}

// setLineage validates the optional fields of w and sets them in e, whose
// id is set. A field that is null is absent; one that is empty is invalid
// (but for headers: {} is none), since the wire form leaves out what is
// absent.
func (w *decodeWire) setLineage(e *Event) error {
	parentID, err := optionalID("parent_id", w.ParentID)
	if err != nil {
		return err
	}
	correlationID, err := optionalID("correlation_id", w.CorrelationID)
	if err != nil {
		return err
	}
	if err := e.setLineage(parentID, correlationID); err != nil {
		return err
	}
	key, ok, err := rawString("key", w.Key)
	if err != nil {
		return err
	}
	if ok {
		if err := validateKey(key); err != nil {
			return err
		}
	}
	headers, err := decodeHeaders(w.Headers)
	if err != nil {
		return err
	}
	e.setExt(key, headers)
	return nil
}

// optionalID returns the id an optional field holds, "" when it is absent.
func optionalID(field string, p *string) (string, error) {
	switch {
	case p == nil:
		return "", nil
	case *p == "":
		return "", invalid(field, `"" is not a UUID (an event without one has no such field)`, nil)
	}
	return *p, nil
}

// rawString decodes the JSON string raw, if present and not null. Its text
// must be valid UTF-8: encoding/json would replace what is not.
func rawString(field string, raw json.RawMessage) (s string, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	if raw[0] != '"' {
		return "", false, invalid(field, "must be a JSON string, got "+jsonKind(raw), nil)
	}
	if !utf8.Valid(raw) {
		return "", false, invalid(field, "not valid UTF-8", nil)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, invalid(field, "not a valid JSON string", err)
	}
	return s, true, nil
}

// decodeHeaders validates the JSON object raw, of strings, and returns its
// canonical text; "" when it is absent, null or empty.
func decodeHeaders(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] != '{' {
		return "", invalid("headers", "must be a JSON object of strings, got "+jsonKind(raw), nil)
	}
	if !utf8.Valid(raw) {
		return "", invalid("headers", "not valid UTF-8", nil)
	}
	var m map[string]*string
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", invalid("headers", "values must be JSON strings", err)
	}
	h := make(map[string]string, len(m))
	for _, n := range slices.Sorted(maps.Keys(m)) {
		if m[n] == nil {
			return "", invalid("headers", fmt.Sprintf("the value of %q is null", truncate(n)), nil)
		}
		h[n] = *m[n]
	}
	return encodeHeaders(h)
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return invalid("", "not a JSON object", err)
		}
		return invalid(field, "must be a JSON string, got "+typeErr.Value, err)
	case errors.As(err, &syntaxErr):
		return invalid("", "not valid JSON: "+syntaxErr.Error(), err)
	case errors.Is(err, io.EOF):
		return invalid("", "empty input", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "truncated JSON", err)
	}
	// DisallowUnknownFields reports `json: unknown field "x"`.
	return invalid("", err.Error(), err)
}
