package core

import (
	"log/slog"
	"time"
)

// Log keys used by the Spine. They are stable: dashboards and alerts may rely
// on them.
const (
	KeyEventID = "event_id"
	// KeyCorrelationID is the chain's id (the id of its seed), beside
	// KeyEventID on every line about one event.
	KeyCorrelationID = "correlation_id"
	KeyEventType     = "event_type"
	KeyOrgan         = "organ"
	KeyEmitted       = "emitted"
	KeyAttempt       = "attempt"
	KeyError         = "error"
	KeyReason        = "reason"
	KeySteps         = "steps"
	// KeyDuration: how long something took (an organ call, the shutdown
	// timeout), in milliseconds as a float.
	KeyDuration = "duration_ms"
	// KeyBackoff: the wait before a retry, in milliseconds as a float.
	KeyBackoff = "backoff_ms"
	// KeyFailures: how many pulls in a row failed, on the line saying they
	// work again.
	KeyFailures = "failures"
	// KeyEvent: the wire form of an event, on a dead-letter line of a
	// backend that keeps none.
	KeyEvent = "event"
	// KeyCommits: on a line about a batch commit, how many commits it
	// stands for (the event attributes are the first one's).
	KeyCommits = "commits"
)

// millis is d as a log attribute in float milliseconds, the unit of the keys
// named _ms: slog.Duration writes integer nanoseconds in JSON, which nobody
// reads at a glance.
func millis(key string, d time.Duration) slog.Attr {
	return slog.Float64(key, float64(d)/float64(time.Millisecond))
}
