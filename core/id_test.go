package core_test

import (
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/necrostack/necrostack/core"
)

// Ids come from pooled generators shared by goroutines: each must still be a
// distinct version 4 UUID, and every random digit must vary.
func TestNewIDsAreDistinctV4UUIDs(t *testing.T) {
	t.Parallel()
	const workers, each = 4, 2500
	ids := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				ids <- core.MustEvent("SUMMON_RITUAL", nil).ID()
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	var digits [36]map[byte]bool
	for id := range ids {
		for i := range len(id) {
			if digits[i] == nil {
				digits[i] = map[byte]bool{}
			}
			digits[i][id[i]] = true
		}
		u, err := uuid.Parse(id)
		if err != nil || u.String() != id {
			t.Fatalf("id %q is not a canonical UUID: %v", id, err)
		}
		if u.Version() != 4 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("id %q: version %d, variant %v; want 4, RFC 4122", id, u.Version(), u.Variant())
		}
		if seen[id] {
			t.Fatalf("id %q given twice", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d ids, want %d", len(seen), workers*each)
	}
	for i, d := range digits {
		want := 16 // hexadecimal digits seen at the position, in 10,000 ids
		switch i {
		case 8, 13, 18, 23: // dashes
			want = 1
		case 14: // the version
			want = 1
		case 19: // the variant: 8, 9, a or b
			want = 4
		}
		if len(d) != want {
			t.Errorf("position %d of the ids took %d distinct characters, want %d", i, len(d), want)
		}
	}
}
