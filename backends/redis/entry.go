package redis

import (
	"fmt"
	"sort"
	"strings"

	"github.com/necrostack/necrostack/core"
)

// An event is stored as a stream entry with one field, fieldEvent, holding its
// JSON wire form.
const fieldEvent = "event"

// Dead-letter reasons for entries the backend itself refuses, beside the
// Spine's core.ReasonHandlerFailed and core.ReasonUnroutable.
const (
	// ReasonMalformed: the entry is not a valid event (not JSON, unknown
	// fields, missing or invalid type or id, no "event" field, extra fields).
	ReasonMalformed = "malformed_entry"
	// ReasonOversized: the entry is larger than Config.MaxEventBytes.
	ReasonOversized = "oversized_entry"
	// ReasonMaxDeliveries: the entry was delivered Config.MaxDeliveries
	// times without being acknowledged (its consumers kept dying on it).
	ReasonMaxDeliveries = "max_deliveries"
)

// appendWire appends the wire form of e to buf, checked against maxBytes;
// on error it returns buf as it was. A larger event is refused for good,
// with a *core.RejectedEventError naming it, by which the Spine names the
// organ that emitted it. go-redis sends a []byte argument as it is, so the
// wire form is never copied into a string.
func appendWire(buf []byte, e core.Event, maxBytes int) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return buf, err
	}
	start := len(buf)
	out := e.AppendJSON(buf)
	if n := len(out) - start; n > maxBytes {
		return buf, &core.RejectedEventError{EventID: e.ID(),
			Err: fmt.Errorf("redis: event %s is %d bytes, more than MaxEventBytes (%d)", e, n, maxBytes)}
	}
	return out, nil
}

// badEntry is why a stream entry cannot become an event.
type badEntry struct {
	reason string
	err    string
	raw    string // what the entry held, cut to the size limit
}

// decodeEntry turns a stream entry's fields into an event, or says why not.
func decodeEntry(values map[string]any, maxBytes int) (core.Event, *badEntry) {
	raw, rawErr := rawEvent(values)
	if rawErr != "" {
		return core.Event{}, &badEntry{reason: ReasonMalformed, err: rawErr, raw: cut(describe(values), maxBytes)}
	}
	if len(raw) > maxBytes {
		return core.Event{}, &badEntry{
			reason: ReasonOversized,
			err:    fmt.Sprintf("entry holds %d bytes, more than the %d allowed", len(raw), maxBytes),
			raw:    cut(raw, min(1024, maxBytes)),
		}
	}
	e, err := core.DecodeEventString(raw)
	if err != nil {
		return core.Event{}, &badEntry{reason: ReasonMalformed, err: err.Error(), raw: raw}
	}
	return e, nil
}

func rawEvent(values map[string]any) (string, string) {
	v, ok := values[fieldEvent]
	if !ok {
		return "", fmt.Sprintf("no %q field (fields: %s)", fieldEvent, fieldNames(values))
	}
	if len(values) != 1 {
		return "", fmt.Sprintf("unexpected fields beside %q: %s", fieldEvent, fieldNames(values))
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Sprintf("%q field is a %T, not a string", fieldEvent, v)
	}
	return s, ""
}

func fieldNames(values map[string]any) string {
	names := make([]string, 0, len(values))
	for k := range values {
		if k != fieldEvent {
			names = append(names, fmt.Sprintf("%q", cut(k, 64)))
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// describe renders an entry's fields for the dead-letter stream.
func describe(values map[string]any) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", k, values[k])
	}
	return b.String()
}

// cut shortens s to at most n bytes, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…(truncated)"
}
