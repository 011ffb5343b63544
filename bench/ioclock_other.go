//go:build !linux

package bench

import (
	"context"
	"time"
)

// platformWait is a Go timer's wait here (see ioclock_linux.go for why
// Linux has another).
func platformWait(ctx context.Context, d time.Duration) error { return timerWait(ctx, d) }

// acquireIOClock has nothing to start here.
func acquireIOClock() (release func(), err error) { return func() {}, nil }
