package core

import (
	"context"
	"errors"
	"time"
)

// ErrClosed is returned by a backend's methods after Close.
var ErrClosed = errors.New("backend closed")

// ErrDeliveryLost is returned by Commit, Ack or Release when the backend no
// longer holds the delivery for this consumer: another consumer reclaimed it
// after it stayed unacknowledged too long. Nothing was committed; the new
// owner handles the event. The Spine logs it and moves on.
var ErrDeliveryLost = errors.New("delivery lost to another consumer")

// Delivery is one event handed out by Backend.Pull. Receipt and Attempt are
// the backend's: the Spine passes the Delivery back unchanged to Ack, Commit
// or Release.
type Delivery struct {
	Event Event
	// Receipt identifies this delivery to its backend (a Redis stream entry
	// id, say). Empty for backends that need none.
	Receipt string
	// Attempt counts deliveries of this entry, starting at 1, for backends
	// that redeliver; 0 when unknown.
	Attempt int
}

// Backend moves events between producers and the Spine.
//
// All methods are safe for concurrent use. Enqueue makes the event available
// to a later Pull. Pull returns the next event, or ok == false when none
// arrived within timeout; it also returns early, with ctx.Err(), when ctx is
// done. A Pull error other than a context error is transient (the Spine logs
// it, backs off and pulls again) unless it is ErrClosed. Ack marks a delivery
// as handled; backends without redelivery make it a no-op.
//
// Optional capabilities are separate interfaces: Committer, BatchCommitter,
// DeadLetterer, Releaser and io.Closer. After Close every method returns ErrClosed. The
// Spine finds the capabilities by type assertion on the value it is given, so
// a wrapper around a backend must implement them itself to keep them.
type Backend interface {
	Enqueue(ctx context.Context, e Event) error
	Pull(ctx context.Context, timeout time.Duration) (d Delivery, ok bool, err error)
	Ack(ctx context.Context, d Delivery) error
}

// Outcome is what handling one delivery produced.
type Outcome struct {
	Emitted     []Event
	DeadLetters []DeadLetter
}

// Committer is implemented by backends that record an Outcome and acknowledge
// its delivery atomically: either all of it happens or none. The Spine
// prefers Commit to Enqueue + DeadLetter + Ack when a backend offers it, so
// a crash can neither lose the emitted events nor emit them twice.
//
// An error matching ErrPermanent says the outcome can never be committed (an
// emitted event the backend refuses, say); the Spine then dead-letters the
// input with ReasonCommitRejected instead of retrying. A *RejectedEventError
// naming the refused event lets that dead letter name the organ that emitted
// it. Other errors are retried.
type Committer interface {
	Commit(ctx context.Context, d Delivery, out Outcome) error
}

// DeadLetterer is implemented by backends that keep dead letters.
type DeadLetterer interface {
	DeadLetter(ctx context.Context, dl DeadLetter) error
}

// Releaser is implemented by backends that can hand a pulled, unacknowledged
// delivery out again, at the front of the queue. The Spine releases the event
// it pulled past MaxSteps and those it could not finish before shutdown.
// Backends that redeliver by themselves need not, though handing the event
// out again at once beats waiting for a redelivery.
type Releaser interface {
	Release(ctx context.Context, d Delivery) error
}

// Dead-letter reasons set by the Spine. Backends add their own (a Redis
// entry that is not JSON, one delivered too often).
const (
	ReasonHandlerFailed  = "handler_failed"  // an organ failed on every attempt
	ReasonUnroutable     = "unroutable"      // no organ listens to the event type
	ReasonCommitRejected = "commit_rejected" // the backend refused the outcome for good (an emitted event too large, say)
)

// DeadLetter is an event that could not be handled, and why.
type DeadLetter struct {
	Event    Event
	Organ    string // the organ that failed, or emitted the event a commit was rejected for; empty when no organ is to blame
	Reason   string // ReasonHandlerFailed, ReasonUnroutable or a backend's reason
	Error    string // the last error
	Attempts int    // attempts made by the organ, or deliveries made by the backend
	Time     time.Time
}
