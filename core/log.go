package core

// Log keys used by the Spine. They are stable: dashboards and alerts may rely
// on them.
const (
	KeyEventID   = "event_id"
	KeyEventType = "event_type"
	KeyOrgan     = "organ"
	KeyEmitted   = "emitted"
	KeyDuration  = "duration"
	KeyAttempt   = "attempt"
	KeyError     = "error"
	KeyReason    = "reason"
	KeySteps     = "steps"
)
