package core

import (
	"fmt"
	"reflect"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// Kind ties an event type to the Go type of its payload, so organs build and
// read events without juggling maps:
//
//	var SpiritAppeared = core.NewKind[Spirit]("SPIRIT_APPEARED")
//
//	ev, err := SpiritAppeared.New(Spirit{Name: "Banquo"})
//	spirit, err := SpiritAppeared.Decode(ev)
//
// A Kind is an immutable value; declare it once at package level.
type Kind[T any] struct {
	eventType string
}

// NewKind returns the Kind for eventType. It panics if eventType is not a
// valid event type, because kinds are declared by the program, not read from
// input.
func NewKind[T any](eventType string) Kind[T] {
	if err := ValidateEventType(eventType); err != nil {
		panic(err)
	}
	return Kind[T]{eventType: eventType}
}

// Type returns the event type.
func (k Kind[T]) Type() string { return k.eventType }

// New builds an event of this kind carrying payload.
func (k Kind[T]) New(payload T) (Event, error) {
	return Build(EventInit{Type: k.eventType, Payload: payload})
}

// Decode returns the payload of e as a T. It fails if e is of another type.
func (k Kind[T]) Decode(e Event) (T, error) {
	var v T
	if e.Type() != k.eventType {
		return v, fmt.Errorf("decode %s: event %s has type %s", k.eventType, e.ID(), e.Type())
	}
	return PayloadAs[T](e)
}

// PayloadAs decodes the payload of e into a new T.
func PayloadAs[T any](e Event) (T, error) {
	t := reflect.TypeFor[T]()
	// Only for exactly the type the event was built from: an interface T
	// would match too, where JSON would give a map.
	if e.value != nil && reflect.TypeOf(e.value) == t {
		return e.value.(T), nil // a copy of the plain value the event was built from
	}
	if c := jsonfast.For(t); c != nil {
		var v T // on the stack: only the slow path below lets its T escape
		if jsonfast.Decode(c, &v, e.payloadText()) {
			return v, nil
		}
		return unmarshalPayload[T](e)
	}
	var v T
	err := e.DecodePayload(&v)
	return v, err
}

// unmarshalPayload decodes the payload of e into a new T with encoding/json.
func unmarshalPayload[T any](e Event) (T, error) {
	var v T
	err := e.unmarshalPayload(&v)
	return v, err
}

// MustNew is New that panics on error, for tests and fixtures.
func (k Kind[T]) MustNew(payload T) Event {
	e, err := k.New(payload)
	if err != nil {
		panic(err)
	}
	return e
}
