package redis

import (
	"testing"

	"github.com/necrostack/necrostack/core"
)

// FuzzDecodeEntry feeds arbitrary stream-entry fields to the decoder: it must
// never panic, every refused entry must carry a reason and an error, and every
// accepted one must be a valid event that survives a round trip.
func FuzzDecodeEntry(f *testing.F) {
	valid := `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"SUMMON_RITUAL","payload":{"q":"who?"}}`
	f.Add("event", valid, "", "")
	f.Add("event", valid, "colour", "grey")
	f.Add("event", "the spirits are restless", "", "")
	f.Add("payload", "{}", "", "")
	f.Add("event", `{"id":"x"}`, "", "")
	f.Add("event", `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A","extra":1}`, "", "")
	const maxBytes = 256
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		values := map[string]any{k1: v1}
		if k2 != "" {
			values[k2] = v2
		}
		e, bad := decodeEntry(values, maxBytes)
		if bad != nil {
			if bad.reason != ReasonMalformed && bad.reason != ReasonOversized {
				t.Fatalf("unknown reason %q", bad.reason)
			}
			if bad.err == "" {
				t.Fatalf("refused entry %v with no error", values)
			}
			if len(bad.raw) > maxBytes+len("…(truncated)")+64*2 {
				t.Fatalf("raw kept %d bytes, more than the limit", len(bad.raw))
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
		wire, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := core.DecodeEvent(wire)
		if err != nil || !back.Equal(e) {
			t.Fatalf("round trip: %v %v", back, err)
		}
	})
}
