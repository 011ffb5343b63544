package core

import (
	"context"
	"log/slog"
	"time"
)

// backendRetry paces the Spine's retries of a failing backend: the pull loop
// after a failed Pull (pullOutage), and commits after a transient failure
// (directCommitter.commit per commit, batcher.commit per round). An organ's
// retries follow Config.Retry instead.
//
// The first wait, 25-50ms, makes a blip (a failover, a dropped connection)
// cost about one round trip; the cap, 2.5-5s, probes an outage of minutes a
// few times a minute without spinning and, as only the first failure logs at
// Warn, without flooding the log. There is no attempt limit (MaxAttempts is
// unused): an event must be pulled and its outcome committed however long the
// backend is away, and the run's context ends the wait. Errors that no retry
// can fix are not retried at all: ErrClosed, ErrPermanent, ErrDeliveryLost.
var backendRetry = RetryPolicy{InitialBackoff: 50 * time.Millisecond, MaxBackoff: 5 * time.Second}

// sleep waits for d or until ctx is done, and reports whether it slept the
// whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pullOutage counts the pulls that failed in a row, so that an outage logs
// one line at Warn when it starts and one at Info when it ends.
type pullOutage struct {
	fails int
}

// failed logs a failed pull and backs off before the next.
func (o *pullOutage) failed(ctx context.Context, log *slog.Logger, err error) {
	o.fails++
	wait := backendRetry.Backoff(o.fails)
	level := slog.LevelDebug
	if o.fails == 1 {
		level = slog.LevelWarn
	}
	log.LogAttrs(ctx, level, "pull failed; backing off",
		slog.String(KeyError, err.Error()), slog.Int(KeyAttempt, o.fails), millis(KeyBackoff, wait))
	sleep(ctx, wait)
}

// over ends an outage, if there was one, after a pull that worked.
func (o *pullOutage) over(ctx context.Context, log *slog.Logger) {
	if o.fails > 0 { // inlined: a pull that worked costs one comparison
		o.end(ctx, log)
	}
}

func (o *pullOutage) end(ctx context.Context, log *slog.Logger) {
	log.LogAttrs(ctx, slog.LevelInfo, "pull recovered", slog.Int(KeyFailures, o.fails))
	o.fails = 0
}
