package core

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// MaxEventTypeLen bounds the length of an event type, in bytes.
const MaxEventTypeLen = 128

// ErrInvalidEvent is the sentinel every validation and decoding failure of an
// Event matches with errors.Is. The concrete error is an *EventError.
var ErrInvalidEvent = errors.New("invalid event")

// EventError reports why an event is invalid: which field, and the reason.
type EventError struct {
	Field  string // "id", "timestamp", "event_type", "payload", or "" for the document itself
	Reason string
	Err    error // underlying cause, if any
}

func (e *EventError) Error() string {
	if e.Field == "" {
		return "invalid event: " + e.Reason
	}
	return "invalid event: " + e.Field + ": " + e.Reason
}

// Is makes every EventError match ErrInvalidEvent.
func (e *EventError) Is(target error) bool { return target == ErrInvalidEvent }

// Unwrap returns the underlying cause.
func (e *EventError) Unwrap() error { return e.Err }

func invalid(field, reason string, err error) error {
	return &EventError{Field: field, Reason: reason, Err: err}
}

// Event is an immutable, validated message. Build one with NewEvent, Build or a
// Kind; decode one with DecodeEvent. The zero Event is not valid (it has no
// type) and is rejected wherever an event is expected.
//
// Event is a small value: copy it freely and share it between goroutines. Its
// payload is held as canonical JSON, or as the immutable flat value it is
// encoded from on demand, and never exposed by reference.
type Event struct {
	id        string
	timestamp time.Time
	eventType string
	payload   string // compact JSON object; "" with flat set: not encoded yet
	// value is the plain Go value the payload was encoded from, when it
	// decodes back to an equal value (jsonfast.RoundTrips); nil otherwise.
	value any
	// flat, when set, is the codec of value's flat type, and the payload is
	// encoded from value when it is needed (wire form, Payload), not when the
	// event is built: an event handed from organ to organ in memory is
	// never encoded at all.
	flat *jsonfast.Codec
}

// EventInit holds the fields for Build. Zero fields take their defaults.
type EventInit struct {
	// ID is a UUID in its canonical textual form. Default: a new random UUID.
	ID string
	// Timestamp is converted to UTC. Default: the current time.
	Timestamp time.Time
	// Type is the UPPER_SNAKE_CASE event type. Required.
	Type string
	// Payload is anything encoding/json turns into a JSON object: a struct,
	// a map, a json.RawMessage holding an object. nil means an empty object.
	Payload any
}

// NewEvent builds an event of the given type with a fresh id and the current
// time. payload is marshalled with encoding/json and must form a JSON object
// (nil means empty).
func NewEvent(eventType string, payload any) (Event, error) {
	return Build(EventInit{Type: eventType, Payload: payload})
}

// MustEvent is NewEvent that panics on error. It is meant for tests, examples
// and package-level fixtures, never for data from outside the program.
func MustEvent(eventType string, payload any) Event {
	e, err := NewEvent(eventType, payload)
	if err != nil {
		panic(err)
	}
	return e
}

// Build validates init and returns the event it describes.
func Build(init EventInit) (Event, error) {
	if err := ValidateEventType(init.Type); err != nil {
		return Event{}, err
	}
	var e Event
	e.eventType = init.Type
	if init.ID == "" {
		e.id = newID()
	} else {
		id, err := parseID(init.ID)
		if err != nil {
			return Event{}, err
		}
		e.id = id
	}
	if init.Timestamp.IsZero() {
		e.timestamp = time.Now().UTC().Round(0)
	} else {
		ts, err := utcTimestamp(init.Timestamp)
		if err != nil {
			return Event{}, err
		}
		e.timestamp = ts
	}
	if c := jsonfast.For(reflect.TypeOf(init.Payload)); c != nil {
		if c.Encodable(init.Payload) {
			// Encoded later, exactly as now: the value is immutable (the
			// interface holds its own copy, and strings are immutable).
			e.value, e.flat = init.Payload, c
			return e, nil
		}
		// It would not read back the same (the value is not kept), or it is
		// a NaN or infinity (encoding/json says what is wrong).
		var buf [256]byte
		if b, ok := c.Encode(buf[:0], init.Payload); ok {
			e.payload = string(b)
			return e, nil
		}
	}
	p, err := marshalPayload(init.Payload)
	if err != nil {
		return Event{}, err
	}
	e.payload = p
	if init.Payload != nil && jsonfast.RoundTrips(reflect.TypeOf(init.Payload)) && !strings.Contains(p, `\ufffd`) {
		// Invalid UTF-8 in a string is the one change JSON makes to such a
		// value; it shows as an escaped U+FFFD, and disqualifies the copy.
		e.value = init.Payload
	}
	return e, nil
}

// ID returns the event's UUID in canonical lowercase form.
func (e Event) ID() string { return e.id }

// Timestamp returns the event's creation time, in UTC.
func (e Event) Timestamp() time.Time { return e.timestamp }

// Type returns the event type.
func (e Event) Type() string { return e.eventType }

// Payload returns a copy of the payload as a JSON object.
func (e Event) Payload() json.RawMessage {
	if e.flat != nil {
		return e.appendPayload(make([]byte, 0, e.flat.Size()))
	}
	if e.payload == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(e.payload)
}

// DecodePayload unmarshals the payload into v, like json.Unmarshal.
func (e Event) DecodePayload(v any) error {
	// The shortcuts work only into a zero value: json.Unmarshal would leave
	// the fields the payload lacks as they were.
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		if elem := rv.Elem(); elem.Kind() == reflect.Struct && elem.IsZero() {
			if e.value != nil && elem.Type() == reflect.TypeOf(e.value) {
				elem.Set(reflect.ValueOf(e.value))
				return nil
			}
			if c := jsonfast.For(elem.Type()); c != nil {
				if c.DecodeValue(rv, e.payloadText()) {
					return nil
				}
				elem.SetZero()
			}
		}
	}
	return e.unmarshalPayload(v)
}

// unmarshalPayload is DecodePayload by encoding/json alone.
func (e Event) unmarshalPayload(v any) error {
	if err := json.Unmarshal([]byte(e.payloadText()), v); err != nil {
		return fmt.Errorf("decode %s payload: %w", e.eventType, err)
	}
	return nil
}

// IsZero reports whether e is the zero Event, which no constructor returns.
func (e Event) IsZero() bool { return e.eventType == "" }

// Equal reports whether e and o have the same id, time, type and payload.
func (e Event) Equal(o Event) bool {
	return e.id == o.id && e.timestamp.Equal(o.timestamp) &&
		e.eventType == o.eventType && e.payloadText() == o.payloadText()
}

func (e Event) payloadText() string {
	if e.flat != nil {
		var buf [256]byte
		return string(e.appendPayload(buf[:0]))
	}
	if e.payload == "" {
		return "{}"
	}
	return e.payload
}

// String returns a short description for logs and test failures.
func (e Event) String() string {
	return e.eventType + "(" + e.id + ")"
}

// Validate checks an event obtained by means other than the constructors,
// such as a zero Event returned by mistake.
func (e Event) Validate() error {
	if err := ValidateEventType(e.eventType); err != nil {
		return err
	}
	if e.id == "" {
		return invalid("id", "missing", nil)
	}
	return nil
}

// ValidateEventType reports whether t is a valid event type: non-empty, at
// most MaxEventTypeLen bytes, UPPER_SNAKE_CASE (an upper-case letter, then
// upper-case letters, digits and single underscores, not ending in one).
func ValidateEventType(t string) error {
	if t == "" {
		return invalid("event_type", "missing", nil)
	}
	if len(t) > MaxEventTypeLen {
		return invalid("event_type", fmt.Sprintf("longer than %d bytes", MaxEventTypeLen), nil)
	}
	if t[0] < 'A' || t[0] > 'Z' {
		return invalid("event_type", fmt.Sprintf("%q is not UPPER_SNAKE_CASE: must start with A-Z", t), nil)
	}
	prevUnderscore := false
	for i := 1; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			prevUnderscore = false
		case c == '_':
			if prevUnderscore {
				return invalid("event_type", fmt.Sprintf("%q is not UPPER_SNAKE_CASE: double underscore", t), nil)
			}
			prevUnderscore = true
		default:
			return invalid("event_type", fmt.Sprintf("%q is not UPPER_SNAKE_CASE: invalid character at byte %d", t, i), nil)
		}
	}
	if prevUnderscore {
		return invalid("event_type", fmt.Sprintf("%q is not UPPER_SNAKE_CASE: ends with underscore", t), nil)
	}
	return nil
}

// idSource is a ChaCha8 generator (cryptographically strong, see
// math/rand/v2) keyed from crypto/rand. Ids take their random bits from a
// pooled one: an id costs half what it did with bytes from crypto/rand (even
// read for 32 ids at a time). Ids need to be unique, not secret.
type idSource struct{ r *mrand.ChaCha8 }

var idSources = sync.Pool{New: func() any {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails (Go 1.24+)
	return &idSource{r: mrand.NewChaCha8(seed)}
}}

// idDigits[i] is where the i-th byte of a UUID goes in its canonical form.
var idDigits = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// newID returns a random (version 4) UUID in canonical form, with one
// allocation: the hot path of every emitted event.
func newID() string {
	src := idSources.Get().(*idSource)
	hi, lo := src.r.Uint64(), src.r.Uint64()
	idSources.Put(src)
	hi = hi&^(0xf<<12) | 0x4<<12 // version 4: the high nibble of byte 6
	lo = lo&^(0x3<<62) | 0x2<<62 // variant 10: the top bits of byte 8
	const hexDigits = "0123456789abcdef"
	var buf [36]byte
	for i := range 8 {
		c, p := byte(hi>>(56-8*i)), idDigits[i]
		buf[p], buf[p+1] = hexDigits[c>>4], hexDigits[c&0x0f]
		c, p = byte(lo>>(56-8*i)), idDigits[8+i]
		buf[p], buf[p+1] = hexDigits[c>>4], hexDigits[c&0x0f]
	}
	buf[8], buf[13], buf[18], buf[23] = '-', '-', '-', '-'
	return string(buf[:])
}

// parseID accepts only the canonical 36-character form (any case) and
// returns it in lowercase.
func parseID(s string) (string, error) {
	if len(s) != 36 {
		return "", invalid("id", fmt.Sprintf("%q is not a UUID in canonical form", truncate(s)), nil)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", invalid("id", fmt.Sprintf("%q is not a UUID", truncate(s)), err)
	}
	return u.String(), nil
}

func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func marshalPayload(p any) (string, error) {
	if p == nil {
		return "{}", nil
	}
	var b []byte
	switch v := p.(type) {
	case json.RawMessage:
		b = v
	default:
		var err error
		b, err = json.Marshal(p)
		if err != nil {
			return "", invalid("payload", "cannot encode as JSON", err)
		}
		if string(b) == "null" {
			return "{}", nil
		}
		if len(b) == 0 || b[0] != '{' {
			return "", invalid("payload", "must be a JSON object, got "+jsonKind(b), nil)
		}
		return string(b), nil
	}
	return canonicalObject(b)
}

// canonicalObject validates that raw is one JSON object and compacts it.
func canonicalObject(raw []byte) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	if raw[0] != '{' {
		return "", invalid("payload", "must be a JSON object, got "+jsonKind(raw), nil)
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return "", invalid("payload", "not valid JSON", err)
	}
	// encoding/json escapes these when it marshals; doing the same here makes
	// the payload read back from any encoder byte-identical to the original.
	if bytes.ContainsAny(buf.Bytes(), "<>&\u2028\u2029") {
		var esc bytes.Buffer
		json.HTMLEscape(&esc, buf.Bytes())
		return esc.String(), nil
	}
	return buf.String(), nil
}

func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

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

// appendPayload appends the payload's JSON object to b.
func (e Event) appendPayload(b []byte) []byte {
	switch {
	case e.flat != nil:
		// Build checked that the value encodes, without loss.
		b, _ = e.flat.Encode(b, e.value)
		return b
	case e.payload == "":
		return append(b, "{}"...)
	default:
		return append(b, e.payload...)
	}
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

// DecodeEventString is DecodeEvent for wire forms a client library hands
// over as strings (go-redis does), saving a copy.
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

// utcTimestamp returns t in UTC, without its monotonic reading, if RFC 3339
// can write it: years 0000 to 9999 in UTC. ("0000-01-01T00:00:00+01:00"
// parses, but is in year -1 in UTC, which no RFC 3339 text says.)
func utcTimestamp(t time.Time) (time.Time, error) {
	u := t.UTC().Round(0)
	if y := u.Year(); y < 0 || y > 9999 {
		return time.Time{}, invalid("timestamp", fmt.Sprintf("%s is in year %d in UTC: RFC 3339 has years 0000 to 9999 only", t.Format(time.RFC3339Nano), y), nil)
	}
	return u, nil
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
