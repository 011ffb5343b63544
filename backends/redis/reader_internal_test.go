package redis

import (
	"slices"
	"testing"
	"time"
)

// Each read's observation adjusts the count once: goroutines that find the
// buffer empty one after the other do not each halve it again.
func TestNextCountUsesEachReadOnce(t *testing.T) {
	b := &reader{cfg: &Config{Batch: 64}, count: 64, lastN: 64, lastRead: time.Now().Add(-25 * time.Millisecond)}
	var got []int
	for range 4 {
		got = append(got, b.nextCount())
	}
	// 64 entries handed out in 25ms: 51 in 20ms, but at most half.
	if want := []int{32, 32, 32, 32}; !slices.Equal(got, want) {
		t.Errorf("counts: %v, want %v", got, want)
	}

	b.count, b.lastN, b.lastRead = 32, 32, time.Now()
	if got := b.nextCount(); got != 64 {
		t.Errorf("after a full read handed out at once: %d, want 64", got)
	}
	b.count, b.lastN, b.lastRead = 64, 64, time.Now()
	if got := b.nextCount(); got != 64 {
		t.Errorf("at Batch: %d, want 64", got)
	}
	b.count, b.lastN, b.lastRead = 64, 10, time.Now()
	if got := b.nextCount(); got != 64 {
		t.Errorf("after a partial read handed out at once: %d, want 64 (unchanged)", got)
	}
	b.count, b.lastN, b.lastRead = 64, 3, time.Now().Add(-time.Second)
	if got := b.nextCount(); got != 1 {
		t.Errorf("after 3 entries took a second: %d, want 1", got)
	}
}
