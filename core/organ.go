package core

import (
	"context"
	"reflect"
)

// An Organ handles events of the types it listens to and returns the events it
// emits. It is the unit of application logic in NecroStack.
//
// Listens is called once, when the Spine is built; the result must be a
// non-empty list of valid event types. Handle is called for every event of
// those types. It may block (on I/O, on a timer) and must return promptly
// once ctx is done. Handle may be called concurrently for different events
// when the Spine runs with Concurrency above 1; never concurrently for the
// same delivery.
//
// The returned events are enqueued, together with the acknowledgement of the
// input, only when every organ has finished with it. The returned slice
// belongs to the Spine from then on: do not reuse it. A non-nil error means the
// call failed: the Spine retries it for this organ with backoff, and after the
// last attempt dead-letters the event for this organ; the events returned
// along with an error are discarded. Wrap an error with Permanent to skip the
// retries. A panic is recovered and treated as an error.
//
// An organ is named after its Go type (a *Summoner is "Summoner") unless it
// implements Namer.
type Organ interface {
	Listens() []string
	Handle(ctx context.Context, e Event) ([]Event, error)
}

// Namer is implemented by organs that choose their own name.
type Namer interface {
	Name() string
}

// HandleFunc is the signature of Organ.Handle.
type HandleFunc func(ctx context.Context, e Event) ([]Event, error)

// OrganFunc turns a function into an Organ named name that listens to the
// given event types. NewSpine refuses one whose fn is nil.
func OrganFunc(name string, listens []string, fn HandleFunc) Organ {
	return &funcOrgan{name: name, listens: append([]string(nil), listens...), fn: fn}
}

type funcOrgan struct {
	name    string
	listens []string
	fn      HandleFunc
}

func (f *funcOrgan) Name() string      { return f.name }
func (f *funcOrgan) Listens() []string { return append([]string(nil), f.listens...) }
func (f *funcOrgan) Handle(ctx context.Context, e Event) ([]Event, error) {
	if f.fn == nil { // called directly: NewSpine refuses such an organ
		return nil, Permanent(errNilFunc)
	}
	return f.fn(ctx, e)
}

// OrganName returns the name the Spine, the logs and dead letters use for o:
// its Name if it implements Namer, else its Go type name without package or
// pointer.
func OrganName(o Organ) string {
	if n, ok := o.(Namer); ok {
		return n.Name()
	}
	t := reflect.TypeOf(o)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Name() == "" {
		return "<anonymous organ>"
	}
	return t.Name()
}

// Emit is a convenience for handlers: it returns its arguments as a slice.
func Emit(events ...Event) []Event { return events }
