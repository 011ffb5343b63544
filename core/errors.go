package core

import "errors"

// ErrMaxStepsExceeded stops a run that handled more events than its
// MaxSteps allows, as a guard against organs that emit each other forever.
var ErrMaxStepsExceeded = errors.New("max steps exceeded")

// ErrPermanent marks handler errors that no retry can fix. Match it with
// errors.Is; create such errors with Permanent.
var ErrPermanent = errors.New("permanent failure")

// ErrFatal marks backend errors that waiting cannot mend: a refused
// password or permission, a key of the wrong type, a server too old. The
// Spine does not retry them: Run stops, after releasing what it holds, and
// returns the error. Backends create them with Fatal; match with errors.Is.
var ErrFatal = errors.New("fatal backend error")

// RejectedEventError is what a backend returns when it refuses an event for
// good: one whose wire form is larger than it stores, say. It is permanent
// by itself (it matches ErrPermanent; wrapping it in Permanent changes
// nothing). When Commit returns it for one of the outcome's emitted events,
// the Spine dead-letters the input with ReasonCommitRejected and names in the
// dead letter the organ that emitted EventID. A backend refusing several
// events of one outcome names the first.
type RejectedEventError struct {
	EventID string // the refused event's id
	Err     error  // why; its text names the event
}

func (e *RejectedEventError) Error() string {
	if e.Err == nil {
		return "event " + e.EventID + " rejected"
	}
	return e.Err.Error()
}

func (e *RejectedEventError) Unwrap() error { return e.Err }

// Is makes a RejectedEventError match ErrPermanent.
func (e *RejectedEventError) Is(target error) bool { return target == ErrPermanent }

var errNilFunc = errors.New("organ has a nil HandleFunc")

// Permanent wraps err so the Spine dead-letters the event at once instead of
// retrying it. It returns nil for a nil err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (p *permanentError) Error() string        { return p.err.Error() }
func (p *permanentError) Unwrap() error        { return p.err }
func (p *permanentError) Is(target error) bool { return target == ErrPermanent }

// Fatal wraps err so the Spine stops instead of retrying (see ErrFatal). It
// returns nil for a nil err.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return &fatalError{err}
}

type fatalError struct{ err error }

func (f *fatalError) Error() string        { return f.err.Error() }
func (f *fatalError) Unwrap() error        { return f.err }
func (f *fatalError) Is(target error) bool { return target == ErrFatal }
