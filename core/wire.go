package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// decodeWire uses pointers to tell a missing field from an empty one.
type decodeWire struct {
	ID        *string         `json:"id"`
	Timestamp *string         `json:"timestamp"`
	EventType *string         `json:"event_type"`
	Payload   json.RawMessage `json:"payload"`
}

// MarshalJSON encodes the wire form:
// {"id":"…","timestamp":"RFC3339Nano UTC","event_type":"…","payload":{…}}.
func (e Event) MarshalJSON() ([]byte, error) {
	if e.IsZero() {
		return nil, invalid("", "cannot encode the zero Event", nil)
	}
	// The fixed text is 61 bytes; a timestamp at most 35.
	n := len(e.payload)
	if e.flat != nil {
		n = e.flat.Size()
	}
	return e.AppendJSON(make([]byte, 0, 96+len(e.id)+len(e.eventType)+n)), nil
}

// AppendJSON appends the wire form of e to b. It is MarshalJSON without the
// allocation, for backends that batch.
func (e Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, e.id...)
	b = append(b, `","timestamp":"`...)
	b = e.timestamp.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","event_type":"`...)
	b = append(b, e.eventType...) // UPPER_SNAKE_CASE needs no escaping
	b = append(b, `","payload":`...)
	return append(e.appendPayload(b), '}')
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
	payload, err := canonicalObject(w.Payload)
	if err != nil {
		return Event{}, err
	}
	return Event{id: id, timestamp: ts, eventType: *w.EventType, payload: payload}, nil
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
