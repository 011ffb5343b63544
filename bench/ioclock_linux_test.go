package bench

import (
	"context"
	"testing"
	"time"
)

// The clock is shared by overlapping runs, started by the first and stopped
// by the last; stopping wakes the waits still in progress, and ioWait falls
// back to Go's timers once no run holds a clock.
func TestIOClockLifetime(t *testing.T) {
	if ioClocks.current.Load() != nil {
		t.Fatal("a clock runs before any run holds one")
	}
	first, err := acquireIOClock()
	if err != nil {
		t.Fatal(err)
	}
	c := ioClocks.current.Load()
	if c == nil {
		t.Fatal("no clock after acquireIOClock")
	}
	second, err := acquireIOClock()
	if err != nil {
		t.Fatal(err)
	}
	if ioClocks.current.Load() != c {
		t.Fatal("a second holder started a second clock")
	}
	first()
	first() // twice: counted once
	if ioClocks.current.Load() != c {
		t.Fatal("the clock stopped while a run still holds it")
	}
	waiting := make(chan error, 1)
	go func() { waiting <- c.wait(context.Background(), time.Hour) }()
	for { // until the wait is in the heap
		c.mu.Lock()
		n := len(c.waiters)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	second()
	if err := <-waiting; err != nil {
		t.Fatalf("a wait in progress when the clock stopped: %v, want it woken", err)
	}
	select {
	case <-c.done:
	default:
		t.Fatal("release returned before the clock's loop did")
	}
	if ioClocks.current.Load() != nil {
		t.Fatal("a clock still runs after the last release")
	}
	if err := ioWait(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
