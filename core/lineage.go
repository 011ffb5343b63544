package core

import (
	"fmt"
	"unicode/utf8"

	"github.com/necrostack/necrostack/core/internal/jsonfast"
)

// MaxKeyLen bounds the length of an event's partition key, in bytes.
const MaxKeyLen = 256

// An event's lineage ties it to its chain: ParentID names the event whose
// handling emitted it, CorrelationID the chain's seed. A seed carries no
// correlation id, on the wire or in memory: its chain id is its own id, and
// every event emitted down the chain carries that id.

// ParentID returns the id of the event whose handling emitted e, or "" for
// an event no organ emitted.
func (e Event) ParentID() string { return e.parentID.String() }

// CorrelationID returns the id of e's chain: the id of the chain's seed. A
// seed is its own chain, so for an event that carries no correlation id it
// is e's own id.
func (e Event) CorrelationID() string {
	if e.correlationID.IsZero() {
		return e.id.String()
	}
	return e.correlationID.String()
}

// Key returns e's partition key, or "" when it has none.
func (e Event) Key() string { return e.key() }

// setParent makes e, in place, as emitted by the handling of parent:
// parent's child, in parent's chain, and with parent's key unless e has one
// of its own. It shares strings, and allocates only to give e parent's key
// beside headers (e's own or parent's): the Spine calls it for every event
// an organ emits, copying neither event.
//
// An organ that returns the event it was given re-enqueues it: an event is
// not its own child, so it is left unchanged. An event that is the seed of
// parent's chain, emitted again, stays a seed (it carries no correlation
// id, as a seed never does).
func (e *Event) setParent(parent *Event) {
	if e.id == parent.id || e.ID() == parent.ID() {
		return
	}
	e.parentID = parent.id
	e.correlationID = parent.correlationID
	if e.correlationID.IsZero() {
		e.correlationID = parent.id
	}
	if e.correlationID.String() == e.ID() {
		e.correlationID = jsonfast.ID{}
	}
	if k := parent.key(); k != "" && e.key() == "" {
		if e.ext == nil && parent.headerText() == "" {
			e.ext = parent.ext // the key alone: share it
		} else {
			e.setExt(k, e.headerText())
		}
	}
}

// setLineage validates and sets the parent and correlation ids of e, whose
// id is set; "" is none. A correlation id equal to e's id is a seed's, and
// dropped.
func (e *Event) setLineage(parentID, correlationID string) error {
	if parentID != "" {
		p, err := parseUUID("parent_id", parentID)
		if err != nil {
			return err
		}
		if p == e.ID() {
			return invalid("parent_id", "is the event's own id: an event is not its own parent", nil)
		}
		e.parentID = jsonfast.RefID(p)
	}
	if correlationID != "" {
		c, err := parseUUID("correlation_id", correlationID)
		if err != nil {
			return err
		}
		if c != e.ID() {
			e.correlationID = jsonfast.RefID(c)
		}
	}
	return nil
}

// validateKey reports whether k is a valid partition key: non-empty, at most
// MaxKeyLen bytes, valid UTF-8.
func validateKey(k string) error {
	switch {
	case k == "":
		return invalid("key", "empty: an event without a key has no key field", nil)
	case len(k) > MaxKeyLen:
		return invalid("key", fmt.Sprintf("%d bytes, more than MaxKeyLen (%d)", len(k), MaxKeyLen), nil)
	case !utf8.ValidString(k):
		return invalid("key", fmt.Sprintf("%q is not valid UTF-8", truncate(k)), nil)
	}
	return nil
}
