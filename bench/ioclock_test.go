package bench

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// No wait ends before its time, whatever the clock behind ioWait, with many
// in flight at once and deadlines interleaved.
func TestIOWaitNeverEndsEarly(t *testing.T) {
	release, err := acquireIOClock()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			for i := range 20 {
				d := time.Duration(200+(g*37+i*91)%1800) * time.Microsecond
				start := time.Now()
				if err := ioWait(context.Background(), d); err != nil {
					errs <- err
					return
				}
				if took := time.Since(start); took < d {
					errs <- errors.New("a wait of " + d.String() + " ended after " + took.String())
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A wait ends with its context, and says so.
func TestIOWaitHonoursContext(t *testing.T) {
	release, err := acquireIOClock()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ioWait(ctx, time.Hour) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("ioWait after cancel = %v, want context.Canceled", err)
	}
	// The clock goes on serving the others.
	if err := ioWait(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
