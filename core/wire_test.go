package core_test

import (
	"encoding/json"
	"errors"
	"fmt"
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
	if !back.Equal(e) {
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
		{"unknown field beside lineage", `{` + id + `,` + ts + `,"event_type":"A","parent_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","trace":"x"}`, `unknown field "trace"`},
		{"misspelt lineage", `{` + id + `,` + ts + `,"event_type":"A","parentId":"7d444840-9dc0-11d1-b245-5ffdce74fad2"}`, `unknown field "parentId"`},
		{"invalid parent", `{` + id + `,` + ts + `,"event_type":"A","parent_id":"nope"}`, `parent_id: "nope" is not a UUID`},
		{"empty parent", `{` + id + `,` + ts + `,"event_type":"A","parent_id":""}`, `parent_id: "" is not a UUID`},
		{"numeric parent", `{` + id + `,` + ts + `,"event_type":"A","parent_id":7}`, "parent_id: must be a JSON string"},
		{"own parent", `{` + id + `,` + ts + `,"event_type":"A","parent_id":"0B6F1C9E-3D5A-4F7B-9C2E-8A1D4E6F7A8B"}`, "parent_id: is the event's own id"},
		{"invalid correlation", `{` + id + `,` + ts + `,"event_type":"A","correlation_id":"0b6f1c9e3d5a4f7b9c2e8a1d4e6f7a8b"}`, "correlation_id: "},
		{"empty correlation", `{` + id + `,` + ts + `,"event_type":"A","correlation_id":""}`, `correlation_id: "" is not a UUID`},
		{"empty key", `{` + id + `,` + ts + `,"event_type":"A","key":""}`, "key: empty"},
		{"numeric key", `{` + id + `,` + ts + `,"event_type":"A","key":12}`, "key: must be a JSON string, got a number"},
		{"long key", `{` + id + `,` + ts + `,"event_type":"A","key":"` + strings.Repeat("k", 257) + `"}`, "key: 257 bytes, more than MaxKeyLen (256)"},
		{"long escaped key", `{` + id + `,` + ts + `,"event_type":"A","key":"` + strings.Repeat(`\u00e9`, 129) + `"}`, "key: 258 bytes"},
		{"invalid UTF-8 key", `{` + id + `,` + ts + `,"event_type":"A","key":"a` + "\xff" + `b"}`, "key: not valid UTF-8"},
		{"array headers", `{` + id + `,` + ts + `,"event_type":"A","headers":["a"]}`, "headers: must be a JSON object of strings, got an array"},
		{"numeric header", `{` + id + `,` + ts + `,"event_type":"A","headers":{"a":1}}`, "headers: values must be JSON strings"},
		{"null header", `{` + id + `,` + ts + `,"event_type":"A","headers":{"b":"x","a":null}}`, `headers: the value of "a" is null`},
		{"empty header name", `{` + id + `,` + ts + `,"event_type":"A","headers":{"":"x"}}`, "headers: a name is empty"},
		{"too many headers", `{` + id + `,` + ts + `,"event_type":"A","headers":{` + headerList(33, "") + `}}`, "headers: 33 entries"},
		{"too many header bytes", `{` + id + `,` + ts + `,"event_type":"A","headers":{"a":"` + strings.Repeat("v", 4096) + `"}}`, "headers: 4097 bytes"},
		{"invalid UTF-8 header", `{` + id + `,` + ts + `,"event_type":"A","headers":{"a":"` + "\xff" + `"}}`, "headers: not valid UTF-8"},
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

// headerList returns n headers "h00":value, "h01":value, … for a JSON object.
func headerList(n int, value string) string {
	pairs := make([]string, n)
	for i := range pairs {
		pairs[i] = fmt.Sprintf(`"h%02d":"%s"`, i, value)
	}
	return strings.Join(pairs, ",")
}

func TestWireFormLineage(t *testing.T) {
	t.Parallel()
	e, err := core.Build(core.EventInit{
		ID:            "0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b",
		Timestamp:     time.Date(2026, 10, 31, 23, 59, 59, 120000000, time.UTC),
		Type:          "SPIRIT_APPEARED",
		ParentID:      "7d444840-9dc0-11d1-b245-5ffdce74fad2",
		CorrelationID: "f47ac10b-58cc-4372-a567-0e02b2c3d479",
		Key:           "hall-7",
		Headers:       map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "baggage": "room=7"},
		Payload:       map[string]string{"name": "Banquo"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59.12Z","event_type":"SPIRIT_APPEARED",` +
		`"parent_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","correlation_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","key":"hall-7",` +
		`"headers":{"baggage":"room=7","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},"payload":{"name":"Banquo"}}`
	if string(got) != want {
		t.Errorf("wire form:\n got  %s\n want %s", got, want)
	}
	if string(e.AppendJSON(nil)) != want {
		t.Errorf("AppendJSON:\n got  %s\n want %s", e.AppendJSON(nil), want)
	}
	back, err := core.DecodeEvent(got)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(e) {
		t.Errorf("round trip: got %s, want %s", back.AppendJSON(nil), want)
	}
}

// Events written elsewhere, by other languages or older versions, carry the
// four original fields only, or mark what they lack with null: they are
// seeds without a key or headers.
func TestDecodeOldFormSeed(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"id": "0B6F1C9E-3D5A-4F7B-9C2E-8A1D4E6F7A8B", "timestamp": "2026-11-01T00:59:59.5+01:00", "event_type": "SUMMON_RITUAL", "payload": {"question": "Who walks?"}}`,
		`{"event_type":"SUMMON_RITUAL","payload":{"question":"Who walks?"},"timestamp":"2026-10-31T23:59:59.5Z","id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b"}`,
		`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59.5Z","event_type":"SUMMON_RITUAL","payload":{"question":"Who walks?"}}`,
		`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59.5Z","event_type":"SUMMON_RITUAL","parent_id":null,"correlation_id":null,"key":null,"headers":null,"payload":{"question":"Who walks?"}}`,
		`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59.5Z","event_type":"SUMMON_RITUAL","correlation_id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","headers":{},"payload":{"question":"Who walks?"}}`,
	} {
		e, err := core.DecodeEvent([]byte(in))
		if err != nil {
			t.Fatalf("DecodeEvent(%s): %v", in, err)
		}
		if e.ParentID() != "" || e.CorrelationID() != e.ID() || e.Key() != "" || e.Headers() != nil {
			t.Errorf("DecodeEvent(%s): parent %q, chain %q, key %q, headers %v; want a seed", in, e.ParentID(), e.CorrelationID(), e.Key(), e.Headers())
		}
		const want = `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59.5Z","event_type":"SUMMON_RITUAL","payload":{"question":"Who walks?"}}`
		if got := string(e.AppendJSON(nil)); got != want {
			t.Errorf("DecodeEvent(%s) re-encodes as\n %s, want\n %s", in, got, want)
		}
	}
}

func TestDecodeLineageAccepts(t *testing.T) {
	t.Parallel()
	const head = `{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A",`
	tests := []struct {
		name, in, wantTail string // wantTail: the re-encoded form after head
	}{
		{"uppercase lineage ids", head + `"parent_id":"7D444840-9DC0-11D1-B245-5FFDCE74FAD2","correlation_id":"F47AC10B-58CC-4372-A567-0E02B2C3D479"}`,
			`"parent_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","correlation_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","payload":{}}`},
		{"fields in any order", head + `"payload":{},"key":"k","parent_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2"}`,
			`"parent_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","key":"k","payload":{}}`},
		{"escaped key", head + `"key":"\u00e9\u003c\n"}`, `"key":"é\u003c\n","payload":{}}`},
		{"headers sorted and escaped", head + `"headers":{ "z" : "1", "a\u0026" : "\/x", "m":"" }}`, `"headers":{"a\u0026":"/x","m":"","z":"1"},"payload":{}}`},
		{"longest key", head + `"key":"` + strings.Repeat("k", 256) + `"}`, `"key":"` + strings.Repeat("k", 256) + `","payload":{}}`},
		{"most headers", head + `"headers":{` + headerList(32, strings.Repeat("v", 125)) + `}}`, `"headers":{` + headerList(32, strings.Repeat("v", 125)) + `},"payload":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := core.DecodeEvent([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if got, want := string(e.AppendJSON(nil)), head+tt.wantTail; got != want {
				t.Errorf("re-encoded:\n got  %s\n want %s", got, want)
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
	f.Add([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59.12Z","event_type":"SPIRIT_APPEARED","parent_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","correlation_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","key":"hall-7","headers":{"baggage":"room=7","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},"payload":{}}`))
	f.Add([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A","key":"\u00e9<","headers":{"z":"1","a":"\n"},"correlation_id":"0B6F1C9E-3D5A-4F7B-9C2E-8A1D4E6F7A8B"}`))
	f.Add([]byte(`{"id":"0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b","timestamp":"2026-10-31T23:59:59Z","event_type":"A","parent_id":null,"key":"","headers":{"a":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := core.DecodeEvent(data)
		es, errs := core.DecodeEventString(string(data))
		if (err == nil) != (errs == nil) || (err == nil && !es.Equal(e)) {
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
