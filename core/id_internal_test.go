package core

import "testing"

func TestIsCanonicalID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", true},
		{"0B6F1C9E-3D5A-4F7B-9C2E-8A1D4E6F7A8B", false}, // parseID lowercases; the wire form is lowercase
		{"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8g", false},
		{"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8", false},
		{"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8bb", false},
		{"0b6f1c9e3-d5a-4f7b-9c2e-8a1d4e6f7a8b", false},
		{"0b6f1c9e-3d5a-4f7b-9c2e_8a1d4e6f7a8b", false},
		{"{b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8}", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isCanonicalID(tt.in); got != tt.want {
			t.Errorf("isCanonicalID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for range 100 {
		if id := newID(); !isCanonicalID(id) {
			t.Fatalf("isCanonicalID(newID() = %q) = false", id)
		}
	}
}

// TestIsCanonicalIDEachByte changes each byte of a canonical id to each
// other byte value: only a lowercase digit for a digit keeps it canonical.
func TestIsCanonicalIDEachByte(t *testing.T) {
	id := newID()
	for i := range len(id) {
		for c := range 256 {
			b := []byte(id)
			b[i] = byte(c)
			want := i != 8 && i != 13 && i != 18 && i != 23 && ('0' <= c && c <= '9' || 'a' <= c && c <= 'f')
			if id[i] == byte(c) {
				want = true
			}
			if got := isCanonicalID(string(b)); got != want {
				t.Fatalf("isCanonicalID(%q) = %v, want %v", b, got, want)
			}
		}
	}
}

var sinkCanonical bool

// BenchmarkIsCanonicalID checks random ids, as events bring them: ids that
// repeat would let a branch predictor learn them.
func BenchmarkIsCanonicalID(b *testing.B) {
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = newID()
	}
	b.ResetTimer()
	for i := range b.N {
		sinkCanonical = isCanonicalID(ids[i%len(ids)])
	}
}
