package core

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// MaxEventTypeLen bounds the length of an event type, in bytes.
const MaxEventTypeLen = 128

// ErrInvalidEvent is the sentinel every validation and decoding failure of an
// Event matches with errors.Is. The concrete error is an *EventError.
var ErrInvalidEvent = errors.New("invalid event")

// EventError reports why an event is invalid: which field, and the reason.
type EventError struct {
	Field  string // "id", "timestamp", "event_type", "parent_id", "correlation_id", "key", "headers", "payload", or "" for the document itself
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
// encoded from on demand, and never exposed by reference; its headers are
// held as their canonical JSON too. Compare events with Equal: == tells
// whether two events share their ids' memory, not whether the ids match.
//
// Beside its id, time, type and payload, an event may carry its lineage
// (ParentID, CorrelationID), a partition key (Key) and headers: see
// EventInit. The Spine sets the lineage of every event an organ emits.
type Event struct {
	id        jsonfast.ID
	timestamp utcTime
	eventType string
	payload   string // canonical JSON object; "" with value set: not encoded yet
	// value is the plain Go value the payload was encoded from, when it
	// decodes back to an equal value (see setPayload); nil otherwise. With
	// payload "", value is of a flat type, and the payload is encoded from
	// it when it is needed (wire form, Payload), not when the event is
	// built: an event handed from organ to organ in memory is never encoded
	// at all.
	value any

	// Lineage and routing, each valid (see EventInit), zero when absent.
	parentID      jsonfast.ID
	correlationID jsonfast.ID // none for a seed, whose chain id is its own id
	// ext holds the key and headers, rarer than lineage, behind a pointer:
	// an Event is copied wherever it goes, and at 96 bytes it fits a size
	// class exactly. nil when the event has neither.
	ext *eventExt
}

// eventExt is an event's key and headers. It is immutable once set: events
// share it.
type eventExt struct {
	key     string
	headers string // the canonical JSON object (see encodeHeaders)
}

// key returns e's partition key, "" for none.
func (e Event) key() string {
	if e.ext == nil {
		return ""
	}
	return e.ext.key
}

// headerText returns e's headers as their canonical JSON object, "" for none.
func (e Event) headerText() string {
	if e.ext == nil {
		return ""
	}
	return e.ext.headers
}

// setExt sets e's key and headers, sharing nothing with other events.
func (e *Event) setExt(key, headers string) {
	if key == "" && headers == "" {
		e.ext = nil
		return
	}
	e.ext = &eventExt{key: key, headers: headers}
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

	// ParentID is the id of the event whose handling emitted this one, a
	// UUID as ID is, other than ID. Default: none. The Spine sets it on the
	// events organs emit; set it by hand only for an event emitted outside
	// a Spine.
	ParentID string
	// CorrelationID is the id of the seed of the event's chain, a UUID.
	// Default: none, which says the event is a seed: its chain id is its
	// own id. One equal to ID says the same, and is dropped. The Spine sets
	// it, with ParentID.
	CorrelationID string
	// Key is the partition key: at most MaxKeyLen bytes of valid UTF-8.
	// Default: none ("" is none). An emitted event without a key of its own
	// inherits its parent's.
	Key string
	// Headers holds string metadata, W3C trace context (traceparent,
	// tracestate, baggage) and the like: at most MaxHeaders entries with
	// non-empty names, at most MaxHeaderBytes of names and values in all,
	// valid UTF-8. The map is copied. Default: none (an empty map is none).
	Headers map[string]string
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
		e.id = jsonfast.RefID(newID())
	} else {
		id, err := parseID(init.ID)
		if err != nil {
			return Event{}, err
		}
		e.id = jsonfast.RefID(id)
	}
	if init.Timestamp.IsZero() {
		e.timestamp = toUTCTime(time.Now())
	} else {
		ts, err := utcTimestamp(init.Timestamp)
		if err != nil {
			return Event{}, err
		}
		e.timestamp = ts
	}
	if init.ParentID != "" || init.CorrelationID != "" || init.Key != "" || len(init.Headers) > 0 {
		if err := e.setLineage(init.ParentID, init.CorrelationID); err != nil {
			return Event{}, err
		}
		if init.Key != "" {
			if err := validateKey(init.Key); err != nil {
				return Event{}, err
			}
		}
		h, err := encodeHeaders(init.Headers)
		if err != nil {
			return Event{}, err
		}
		e.setExt(init.Key, h)
	}
	if err := e.setPayload(init.Payload); err != nil {
		return Event{}, err
	}
	return e, nil
}

// ID returns the event's UUID in canonical lowercase form.
func (e Event) ID() string { return e.id.String() }

// Timestamp returns the event's creation time, in UTC.
func (e Event) Timestamp() time.Time { return e.timestamp.asTime() }

// Type returns the event type.
func (e Event) Type() string { return e.eventType }

// IsZero reports whether e is the zero Event, which no constructor returns.
func (e Event) IsZero() bool { return e.eventType == "" }

// Equal reports whether e and o have the same id, time, type, lineage, key,
// headers and payload.
func (e Event) Equal(o Event) bool {
	return e.ID() == o.ID() && e.timestamp == o.timestamp && e.eventType == o.eventType &&
		e.ParentID() == o.ParentID() && e.correlationID.String() == o.correlationID.String() &&
		e.key() == o.key() && e.headerText() == o.headerText() && e.payloadText() == o.payloadText()
}

// String returns a short description for logs and test failures.
func (e Event) String() string {
	return e.eventType + "(" + e.ID() + ")"
}

// Validate checks an event obtained by means other than the constructors,
// such as a zero Event returned by mistake.
func (e Event) Validate() error {
	if err := ValidateEventType(e.eventType); err != nil {
		return err
	}
	if e.id.IsZero() {
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

// utcTime is a UTC time without its location (always UTC) or monotonic
// reading (never kept), in 16 bytes rather than time.Time's 24: seconds
// since 0001-01-01T00:00:00Z, as time.Time counts them, so that the zero
// utcTime is the zero time, and nanoseconds.
type utcTime struct {
	sec  int64
	nsec int32
}

// secondsToUnix is the Unix time of 0001-01-01T00:00:00Z, negated.
const secondsToUnix = 62135596800

// toUTCTime returns t as a utcTime.
func toUTCTime(t time.Time) utcTime {
	return utcTime{sec: t.Unix() + secondsToUnix, nsec: int32(t.Nanosecond())}
}

// asTime returns u as a time.Time in UTC: the value t.UTC().Round(0) has.
func (u utcTime) asTime() time.Time {
	return time.Unix(u.sec-secondsToUnix, int64(u.nsec)).UTC()
}

// utcTimestamp returns t as a utcTime if RFC 3339 can write it: years 0000
// to 9999 in UTC. ("0000-01-01T00:00:00+01:00" parses, but is in year -1
// in UTC, which no RFC 3339 text says.)
func utcTimestamp(t time.Time) (utcTime, error) {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return utcTime{}, invalid("timestamp", fmt.Sprintf("%s is in year %d in UTC: RFC 3339 has years 0000 to 9999 only", t.Format(time.RFC3339Nano), y), nil)
	}
	return toUTCTime(t), nil
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
