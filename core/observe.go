package core

import (
	"context"
	"time"
)

// Middleware wraps an organ: the Spine calls what it returns instead of the
// organ, for every event the organ listens to (instrumentation: a span or a
// timer around Handle). The organ keeps its name and its event types.
type Middleware func(Organ) Organ

// Observer is told of the Spine's lifecycle points, for metrics, traces and
// audits. Every field is optional. The Spine calls a hook from the
// goroutine doing the work, so hooks may be called concurrently, and waits
// for it: keep hooks quick, and do not keep the slices they are given. A
// Spine without an Observer, or with nil hooks, pays nothing for them.
type Observer struct {
	// Pulled: a delivery was pulled, and is about to be handled.
	Pulled func(ctx context.Context, d Delivery)
	// OrganStarted: organ is about to be called for e; attempt counts the
	// calls for this delivery, from 1.
	OrganStarted func(ctx context.Context, organ string, e Event, attempt int)
	// OrganFinished: the call returned, after took: what it emitted, or
	// err when it failed.
	OrganFinished func(ctx context.Context, organ string, e Event, attempt int, emitted []Event, took time.Duration, err error)
	// Retried: a failed call will be made again after wait.
	Retried func(ctx context.Context, organ string, e Event, attempt int, wait time.Duration, err error)
	// Committed: d's outcome is stored and d acknowledged. took is how
	// long the commit took (the whole batch's, for a batched commit) and
	// batch how many commits went with it (1 when direct).
	Committed func(ctx context.Context, d Delivery, out Outcome, took time.Duration, batch int)
	// DeadLettered: one dead letter of a committed outcome.
	DeadLettered func(ctx context.Context, dl DeadLetter)
	// CommitFailed: an attempt to commit d failed; the Spine retries it,
	// or gives up on it, as the error calls for.
	CommitFailed func(ctx context.Context, d Delivery, err error, attempt int)
	// Released: d was handed back to the backend unfinished (shutdown, the
	// step guard, a refused commit).
	Released func(ctx context.Context, d Delivery)
}

// committed tells o of a committed outcome, if it listens.
func (o *Observer) committed(ctx context.Context, pc *pendingCommit, took time.Duration, batch int) {
	if o == nil {
		return
	}
	if o.Committed != nil {
		o.Committed(ctx, pc.d, pc.out, took, batch)
	}
	if o.DeadLettered != nil {
		for _, dl := range pc.out.DeadLetters {
			o.DeadLettered(ctx, dl)
		}
	}
}

// timing reports whether o needs commit durations measured.
func (o *Observer) timing() bool { return o != nil && o.Committed != nil }

// deliveryKey keys a redelivered delivery's attempt in a handler's context.
type deliveryKey struct{}

// DeliveryAttempt returns how many times the event an organ is handling
// has been delivered, this delivery included, as its backend counts (a
// Redis entry reclaimed from a dead worker is on its second, say): 1 for a
// first delivery, or when the backend does not count.
func DeliveryAttempt(ctx context.Context) int {
	if n, ok := ctx.Value(deliveryKey{}).(int); ok {
		return n
	}
	return 1
}

// withDelivery returns the context the organs handling a delivery, at its
// attempt, get: ctx itself for a first delivery, so that the common case
// costs nothing.
func withDelivery(ctx context.Context, attempt int) context.Context {
	if attempt <= 1 {
		return ctx
	}
	return context.WithValue(ctx, deliveryKey{}, attempt)
}
