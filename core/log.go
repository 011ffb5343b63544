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
	// KeyCommits: on a line about a batch commit, how many commits it
	// stands for (the event attributes are the first one's).
	KeyCommits = "commits"
)
