package core_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

func TestWireForm(t *testing.T) {
	t.Parallel()
	e, err := core.Build(core.EventInit{
		ID:        "0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b",
		Timestamp: time.Date(2026, 10, 31, 23, 59, 59, 120000000, time.UTC),
		Type:      "SUMMON_RITUAL",
		Payload:   map[string]string{"question": "Who walks?"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59.12Z","event_type":"SUMMON_RITUAL","payload":{"question":"Who walks?"}}`
	if string(got) != want {
		t.Errorf("wire form:\n got  %s\n want %s", got, want)
	}
	back, err := core.DecodeEvent(got)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(e) || back != e {
		t.Errorf("round trip: got %v, want %v", back, e)
	}
	if _, err := json.Marshal(core.Event{}); err == nil {
		t.Error("marshalling the zero Event succeeded, want an error")
	}
}

func TestDecodeEventRejects(t *testing.T) {
	t.Parallel()
	const id = `"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b"`
	const ts = `"timestamp":"2026-10-31T23:59:59Z"`
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", ``, "empty input"},
		{"not json", `spirits`, "not valid JSON"},
		{"truncated", `{` + id, "truncated JSON"},
		{"array", `[1,2]`, "not a JSON object"},
		{"unknown field", `{` + id + `,` + ts + `,"event_type":"A","payload":{},"extra":1}`, `unknown field "extra"`},
		{"trailing data", `{` + id + `,` + ts + `,"event_type":"A"} {}`, "trailing data"},
		{"trailing garbage", `{` + id + `,` + ts + `,"event_type":"A"}x`, "trailing data"},
		{"missing id", `{` + ts + `,"event_type":"A"}`, "id: missing"},
		{"missing timestamp", `{` + id + `,"event_type":"A"}`, "timestamp: missing"},
		{"missing type", `{` + id + `,` + ts + `}`, "event_type: missing"},
		{"empty type", `{` + id + `,` + ts + `,"event_type":""}`, "event_type: missing"},
		{"lowercase type", `{` + id + `,` + ts + `,"event_type":"a"}`, "UPPER_SNAKE_CASE"},
		{"numeric type", `{` + id + `,` + ts + `,"event_type":7}`, "event_type: must be a JSON string"},
		{"invalid id", `{"id":"nope",` + ts + `,"event_type":"A"}`, `id: "nope" is not a UUID`},
		{"numeric id", `{"id":1,` + ts + `,"event_type":"A"}`, "id: must be a JSON string"},
		{"bad timestamp", `{` + id + `,"timestamp":"yesterday","event_type":"A"}`, "timestamp:"},
		// Year 0 east of Greenwich is year -1 in UTC, which no RFC 3339 text says.
		{"year before 0000 in UTC", `{` + id + `,"timestamp":"0000-01-01T00:00:00+01:00","event_type":"A"}`, "timestamp: 0000-01-01T00:00:00+01:00 is in year -1 in UTC"},
		{"array payload", `{` + id + `,` + ts + `,"event_type":"A","payload":[1]}`, "payload: must be a JSON object, got an array"},
		{"string payload", `{` + id + `,` + ts + `,"event_type":"A","payload":"x"}`, "payload: must be a JSON object, got a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := core.DecodeEvent([]byte(tt.in))
			if err == nil {
				t.Fatalf("DecodeEvent(%s) succeeded, want error containing %q", tt.in, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("DecodeEvent(%s) = %q, want it to contain %q", tt.in, err, tt.wantErr)
			}
			if !errors.Is(err, core.ErrInvalidEvent) {
				t.Errorf("error %v does not match ErrInvalidEvent", err)
			}
		})
	}
}

func TestDecodeEventAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantTS, wantPayload string
	}{
		{"absent payload", `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A"}`, "2026-10-31T23:59:59Z", "{}"},
		{"null payload", `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A","payload":null}`, "2026-10-31T23:59:59Z", "{}"},
		{"offset converted to UTC", `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-11-01T01:59:59+02:00","event_type":"A","payload":{ "a" : 1 }}`, "2026-10-31T23:59:59Z", `{"a":1}`},
		{"whitespace around", " \n{\"id\":\"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b\",\"timestamp\":\"2026-10-31T23:59:59.000001Z\",\"event_type\":\"A\"}\n", "2026-10-31T23:59:59.000001Z", "{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := core.DecodeEvent([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if got := e.Timestamp().Format(time.RFC3339Nano); got != tt.wantTS {
				t.Errorf("timestamp = %s, want %s", got, tt.wantTS)
			}
			if got := string(e.Payload()); got != tt.wantPayload {
				t.Errorf("payload = %s, want %s", got, tt.wantPayload)
			}
		})
	}
}

func TestUnmarshalJSONInsideStruct(t *testing.T) {
	t.Parallel()
	e := core.MustEvent("OMEN_REVEALED", map[string]string{"omen": "a raven"})
	data, err := json.Marshal(struct{ E core.Event }{e})
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ E core.Event }
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !got.E.Equal(e) {
		t.Errorf("got %v, want %v", got.E, e)
	}
	if err := json.Unmarshal([]byte(`{"E":{"id":"x"}}`), &got); !errors.Is(err, core.ErrInvalidEvent) {
		t.Errorf("decoding a bad embedded event: got %v, want ErrInvalidEvent", err)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59.12Z","event_type":"SUMMON_RITUAL","payload":{"question":"Who walks?"}}`))
	f.Add([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-11-01T01:59:59+02:00","event_type":"A","payload":null}`))
	f.Add([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A","payload":{"a":[1,{"b":"\u00e9"}]}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := core.DecodeEvent(data)
		es, errs := core.DecodeEventString(string(data))
		if (err == nil) != (errs == nil) || (err == nil && es != e) {
			t.Fatalf("DecodeEventString disagrees with DecodeEvent on %q: %v %v", data, err, errs)
		}
		if err != nil {
			if !errors.Is(err, core.ErrInvalidEvent) {
				t.Fatalf("error %v does not match ErrInvalidEvent", err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("decoded event is invalid: %v", err)
		}
		wire, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("re-encoding a decoded event: %v", err)
		}
		back, err := core.DecodeEvent(wire)
		if err != nil {
			t.Fatalf("decoding %s: %v", wire, err)
		}
		if !back.Equal(e) {
			t.Fatalf("round trip changed the event:\n%s\n%v", wire, back)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(wire) {
			t.Fatalf("wire form is not stable:\n%s\n%s", wire, again)
		}
	})
}
