package core

import (
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"sync"

	"github.com/google/uuid"
)

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
func parseID(s string) (string, error) { return parseUUID("id", s) }

// parseUUID is parseID for the field named field (the id, parent_id or
// correlation_id). An id already in lowercase is returned as it is, without
// a copy: strings are immutable.
func parseUUID(field, s string) (string, error) {
	if isCanonicalID(s) {
		return s, nil
	}
	if len(s) != 36 {
		return "", invalid(field, fmt.Sprintf("%q is not a UUID in canonical form", truncate(s)), nil)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", invalid(field, fmt.Sprintf("%q is not a UUID", truncate(s)), err)
	}
	return u.String(), nil
}

// isCanonicalID reports whether s is a UUID in the form newID writes and
// parseID returns: 36 characters, lowercase hexadecimal digits and dashes.
// It has no branch on a character: with random digits and letters a
// comparison per character mispredicted often, and the check of an event's
// three ids took about 7% of a worker's CPU on Redis (125 ns an id, against
// 13-20 now; BenchmarkIsCanonicalID).
func isCanonicalID(s string) bool {
	if len(s) != 36 {
		return false
	}
	var diff byte
	for i := range 36 {
		diff |= idClass[s[i]] ^ idShape[i]
	}
	return diff == 0
}

// idClass is 1 for a lowercase hexadecimal digit, 2 for a dash, and 0 for
// any other byte; idShape is the class each byte of a canonical UUID has.
var idClass, idShape = func() (class [256]byte, shape [36]byte) {
	for _, c := range "0123456789abcdef" {
		class[c] = 1
	}
	class['-'] = 2
	for i := range shape {
		shape[i] = 1
	}
	shape[8], shape[13], shape[18], shape[23] = 2, 2, 2, 2
	return class, shape
}()
