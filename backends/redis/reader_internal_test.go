package redis

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
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

// A read-ahead asks before the last read is all handed out: the count
// follows the pace so far, projected over the whole read.
func TestNextCountForReadAhead(t *testing.T) {
	r := &reader{cfg: &Config{Mode: ModeGroup, Batch: 64}}
	at := func(count, lastN, left int, since time.Duration) int {
		r.buf, r.head = make([]core.Delivery, left), 0
		r.count, r.lastN, r.lastRead = count, lastN, time.Now().Add(-since)
		return r.nextCount()
	}
	if got := at(16, 16, 8, 5*time.Millisecond); got != 32 {
		t.Errorf("half of 16 handed out in 5ms (all in 10ms): %d, want 32", got)
	}
	if got := at(16, 16, 8, 15*time.Millisecond); got != 8 {
		t.Errorf("half of 16 handed out in 15ms (all in 30ms): %d, want 8 (16 × 20/30, at most half)", got)
	}
	if got := at(16, 16, 4, 12*time.Millisecond); got != 32 {
		t.Errorf("12 of 16 handed out in 12ms (all in 16ms): %d, want 32", got)
	}
	if got := at(16, 16, 16, time.Millisecond); got != 16 {
		t.Errorf("none handed out yet: %d, want 16 (unchanged)", got)
	}
}

// The read-ahead's bookkeeping: one at a time, only after a full read, only
// when allowed, none after a failure until a read succeeds, an error that
// a later success makes stale is dropped, and Close sees the one under way.
func TestReadAheadBookkeeping(t *testing.T) {
	r := newReader(nil, &Config{Mode: ModeGroup, Batch: 8}, nil)
	fill := func(n int) {
		for i := range n {
			r.push(core.Delivery{Receipt: fmt.Sprintf("1-%d", i)})
		}
		r.count = n
		r.noteRead(n, n)
	}
	pops := func(n int, mayAhead bool) (aheads int) {
		may := func() bool { return mayAhead }
		for range n {
			if _, ok, ahead := r.pop(may); !ok {
				t.Fatal("pop: empty")
			} else if ahead {
				aheads++
			}
		}
		return aheads
	}
	fill(8)
	if n := pops(4, false); n != 0 {
		t.Errorf("%d read-aheads when not allowed", n)
	}
	fill(8) // 12 buffered, count 8: the 8th pop from here leaves 4
	if n := pops(8, true); n != 1 {
		t.Fatalf("%d read-aheads down to half a read, want 1", n)
	}
	if n := pops(2, true); n != 0 {
		t.Errorf("%d more read-aheads while one is under way", n)
	}
	underWay, err := r.aheadState()
	if underWay == nil || err != nil {
		t.Fatalf("aheadState = %v, %v; want the one under way", underWay, err)
	}
	boom := errors.New("boom")
	r.aheadDone(boom)
	select {
	case <-underWay:
	default:
		t.Fatal("aheadDone did not close the channel")
	}
	fill(8)
	r.lastFull = false // as after the failed read: aheadDone cleared it, and no read has succeeded since
	if n := pops(6, true); n != 0 {
		t.Errorf("%d read-aheads after a failed one, before a read succeeded", n)
	}
	if _, err := r.aheadState(); !errors.Is(err, boom) {
		t.Errorf("aheadState error %v, want boom", err)
	}
	if _, err := r.aheadState(); err != nil {
		t.Errorf("the error returned twice: %v", err)
	}

	r = newReader(nil, &Config{Mode: ModeGroup, Batch: 8}, nil)
	fill(8)
	pops(4, true)
	r.aheadDone(boom)
	if r.lastFull {
		t.Error("a failed read-ahead left lastFull set")
	}
	fill(8)
	pops(8, true) // starts one: fill's noteRead was a full read
	r.aheadDone(nil)
	if _, err := r.aheadState(); err != nil {
		t.Errorf("a stale error after a read-ahead succeeded: %v", err)
	}

	fill(8)
	pops(8, true)
	left, ahead := r.close()
	if ahead == nil || len(left) != 4 {
		t.Fatalf("close: %d left, read-ahead %v; want 4 and the one under way", len(left), ahead)
	}
	r.aheadDone(nil)
	<-ahead
	if _, ok, a := r.pop(func() bool { return true }); ok || a {
		t.Error("pop after close handed out or started a read-ahead")
	}
}
