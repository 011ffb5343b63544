package core

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"
)

// Defaults for Config.
const (
	DefaultMaxSteps        = 10_000
	DefaultConcurrency     = 1
	DefaultPullTimeout     = time.Second
	DefaultShutdownTimeout = 10 * time.Second
	DefaultMaxAttempts     = 3
	DefaultInitialBackoff  = 100 * time.Millisecond
	DefaultMaxBackoff      = 5 * time.Second
	DefaultMaxCommitBatch  = 256
)

// NoStepLimit as Config.MaxSteps lifts the step guard, for long-running
// workers.
const NoStepLimit = -1

// Config configures a Spine. The zero value means every default.
type Config struct {
	// MaxSteps is how many events one Run may pull before it stops with
	// ErrMaxStepsExceeded, a guard against runaway event loops. Default
	// 10,000; NoStepLimit for none.
	MaxSteps int
	// Concurrency is how many events are handled at once. Default 1. Each
	// event goes through its organs in constructor order, one organ at a
	// time; with Concurrency N, N events are in flight, so an organ may be
	// called for several events at once.
	Concurrency int
	// PullTimeout bounds each Pull. Default 1s. RunUntilIdle returns after a
	// pull that waited this long with nothing in flight.
	PullTimeout time.Duration
	// ShutdownTimeout is how long in-flight events may take to finish and
	// be committed once Run's context is cancelled. From the cancel on,
	// their context carries that deadline (a backend or an organ that
	// bounds its calls by it gives up in time); when it passes, the context
	// is cancelled too. Default 10s.
	ShutdownTimeout time.Duration
	// HandlerTimeout, when set, bounds each call of an organ: its context
	// is cancelled after that long, and an error it then returns is a
	// failure like any other (retried, then dead-lettered), saying the
	// organ ran out of time. A call that returns success anyway keeps it.
	// It costs a context per call. Default 0: no bound, for organs that
	// bound their own I/O; set it when a hung call must not hold an event
	// (and, on Redis, its lease) for ever.
	HandlerTimeout time.Duration
	// Retry governs the retries of a failing organ.
	Retry RetryPolicy
	// MaxCommitBatch bounds how many outcomes the Spine sends in one batch
	// to a BatchCommitter, and how many may wait for it. Default 256.
	MaxCommitBatch int
	// Middleware wraps every organ, the first outermost (see Middleware).
	Middleware []Middleware
	// Observer, when set, is told of the Spine's lifecycle points (see
	// Observer).
	Observer *Observer
	// Logger receives the Spine's logs. Default: JSON on stderr at Info.
	Logger *slog.Logger
}

// RetryPolicy is the in-process retry of a failing organ: exponential backoff
// from InitialBackoff, doubling up to MaxBackoff, each wait drawn uniformly
// from its upper half (jitter).
type RetryPolicy struct {
	// MaxAttempts is the number of calls, first included, before the event
	// is dead-lettered for the organ. Default 3; 1 disables retries.
	MaxAttempts int
	// InitialBackoff is the wait after the first failure. Default 100ms.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait. Default 5s.
	MaxBackoff time.Duration
}

// Backoff returns the wait after the given failed attempt (1-based).
func (r RetryPolicy) Backoff(attempt int) time.Duration {
	d := r.InitialBackoff
	for i := 1; i < attempt && d < r.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.MaxBackoff)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// withDefaults validates c and returns it with every zero field set to its
// default; the error names the bad field.
func (c Config) withDefaults() (Config, error) {
	if err := c.validate(); err != nil {
		return c, err
	}
	if c.MaxSteps == 0 {
		c.MaxSteps = DefaultMaxSteps
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.PullTimeout == 0 {
		c.PullTimeout = DefaultPullTimeout
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MaxCommitBatch == 0 {
		c.MaxCommitBatch = DefaultMaxCommitBatch
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = DefaultMaxAttempts
	}
	if c.Retry.InitialBackoff == 0 {
		c.Retry.InitialBackoff = DefaultInitialBackoff
	}
	if c.Retry.MaxBackoff == 0 {
		c.Retry.MaxBackoff = DefaultMaxBackoff
	}
	// Checked with the defaults in, so that a cap set below the default
	// start (or a start above the default cap) is caught too.
	if c.Retry.MaxBackoff < c.Retry.InitialBackoff {
		return c, fmt.Errorf("spine config: Retry.MaxBackoff %v: less than InitialBackoff %v", c.Retry.MaxBackoff, c.Retry.InitialBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return c, nil
}

// validate rejects the values no default can stand for.
func (c Config) validate() error {
	switch {
	case c.MaxSteps < NoStepLimit:
		return fmt.Errorf("spine config: MaxSteps %d: must be positive, 0 for the default or NoStepLimit", c.MaxSteps)
	case c.Concurrency < 0:
		return fmt.Errorf("spine config: Concurrency %d: must not be negative", c.Concurrency)
	case c.PullTimeout < 0:
		return fmt.Errorf("spine config: PullTimeout %v: must not be negative", c.PullTimeout)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("spine config: ShutdownTimeout %v: must not be negative", c.ShutdownTimeout)
	case c.Retry.MaxAttempts < 0:
		return fmt.Errorf("spine config: Retry.MaxAttempts %d: must not be negative", c.Retry.MaxAttempts)
	case c.Retry.InitialBackoff < 0:
		return fmt.Errorf("spine config: Retry.InitialBackoff %v: must not be negative", c.Retry.InitialBackoff)
	case c.MaxCommitBatch < 0:
		return fmt.Errorf("spine config: MaxCommitBatch %d: must not be negative", c.MaxCommitBatch)
	case c.Retry.MaxBackoff < 0:
		return fmt.Errorf("spine config: Retry.MaxBackoff %v: must not be negative", c.Retry.MaxBackoff)
	}
	return nil
}
