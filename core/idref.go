package core

import "unsafe"

// This file holds core's one use of unsafe.

// idRef is a canonical id by the address of its text: a string without its
// length, which is always 36. An Event holds its three ids (its own, its
// parent's, its chain's) so, in 8 bytes each rather than 16, because the
// Spine copies events wherever they go: at 128 bytes an Event fills two
// cache lines and a size class exactly (TestEventSize). The zero idRef is
// no id. Its text is never written: strings are immutable, and an idRef
// keeps the string it points into alive as a substring would.
type idRef struct{ p *byte }

// refID returns the idRef of id, a canonical id or "".
func refID(id string) idRef {
	switch len(id) {
	case 0:
		return idRef{}
	case 36:
		return idRef{unsafe.StringData(id)}
	}
	panic("core: refID of " + id + ", not a canonical id")
}

// String returns the id's text, or "" for none. It does not copy.
func (r idRef) String() string {
	if r.p == nil {
		return ""
	}
	return unsafe.String(r.p, 36)
}

// isZero reports whether r is no id.
func (r idRef) isZero() bool { return r.p == nil }
