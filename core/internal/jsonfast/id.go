package jsonfast

import "unsafe"

// ID is a canonical id (a UUID's 36 characters) by the address of its
// text: a string without its length, which is always 36. An Event holds its
// three ids (its own, its parent's, its chain's) so, in 8 bytes each rather
// than 16, because the Spine copies events wherever they go: at 96 bytes
// an Event fills a size class exactly. The zero ID is
// no id. Its text is never written: strings are immutable, and an ID keeps
// the string it points into alive as a substring would.
type ID struct{ p *byte }

// RefID returns the ID of id, a canonical id or "". It panics on any other
// length: the caller validates ids first.
func RefID(id string) ID {
	switch len(id) {
	case 0:
		return ID{}
	case 36:
		return ID{unsafe.StringData(id)}
	}
	panic("jsonfast: RefID of " + id + ", not a canonical id")
}

// String returns the id's text, or "" for none. It does not copy.
func (r ID) String() string {
	if r.p == nil {
		return ""
	}
	return unsafe.String(r.p, 36)
}

// IsZero reports whether r is no id.
func (r ID) IsZero() bool { return r.p == nil }
