package core_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/necrostack/necrostack/core"
)

func TestValidateEventType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		wantErr string // substring; "" means valid
	}{
		{"SUMMON_RITUAL", ""},
		{"A", ""},
		{"OMEN_2_REVEALED", ""},
		{"V2", ""},
		{strings.Repeat("A", core.MaxEventTypeLen), ""},
		{"", "event_type: missing"},
		{strings.Repeat("A", core.MaxEventTypeLen+1), "longer than 128"},
		{"summon_ritual", "must start with A-Z"},
		{"_SUMMON", "must start with A-Z"},
		{"2FAST", "must start with A-Z"},
		{"SUMMON__RITUAL", "double underscore"},
		{"SUMMON_", "ends with underscore"},
		{"SUMMON-RITUAL", "invalid character at byte 6"},
		{"SUMMON RITUAL", "invalid character"},
		{"SUMMON_Ritual", "invalid character"},
		{"ÉVÉNEMENT", "must start with A-Z"},
	}
	for _, tt := range tests {
		err := core.ValidateEventType(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ValidateEventType(%q) = %v, want nil", tt.in, err)
		case tt.wantErr != "" && err == nil:
			t.Errorf("ValidateEventType(%q) = nil, want error containing %q", tt.in, tt.wantErr)
		case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("ValidateEventType(%q) = %q, want it to contain %q", tt.in, err, tt.wantErr)
		case err != nil && !errors.Is(err, core.ErrInvalidEvent):
			t.Errorf("ValidateEventType(%q) = %v, does not match ErrInvalidEvent", tt.in, err)
		}
	}
}

func TestNewEventDefaults(t *testing.T) {
	t.Parallel()
	before := time.Now()
	e, err := core.NewEvent("SUMMON_RITUAL", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Type(); got != "SUMMON_RITUAL" {
		t.Errorf("Type() = %q", got)
	}
	if len(e.ID()) != 36 {
		t.Errorf("ID() = %q, want a canonical UUID", e.ID())
	}
	if loc := e.Timestamp().Location(); loc != time.UTC {
		t.Errorf("Timestamp location = %v, want UTC", loc)
	}
	if ts := e.Timestamp(); ts.Before(before.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("Timestamp() = %v, want about now", ts)
	}
	if got := string(e.Payload()); got != "{}" {
		t.Errorf("Payload() = %s, want {}", got)
	}
	other := core.MustEvent("SUMMON_RITUAL", nil)
	if other.ID() == e.ID() {
		t.Error("two events got the same id")
	}
}

// Ids come from pooled generators shared by goroutines: each must still be a
// distinct version 4 UUID, and every random digit must vary.
func TestNewIDsAreDistinctV4UUIDs(t *testing.T) {
	t.Parallel()
	const workers, each = 4, 2500
	ids := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				ids <- core.MustEvent("SUMMON_RITUAL", nil).ID()
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	var digits [36]map[byte]bool
	for id := range ids {
		for i := range len(id) {
			if digits[i] == nil {
				digits[i] = map[byte]bool{}
			}
			digits[i][id[i]] = true
		}
		u, err := uuid.Parse(id)
		if err != nil || u.String() != id {
			t.Fatalf("id %q is not a canonical UUID: %v", id, err)
		}
		if u.Version() != 4 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("id %q: version %d, variant %v; want 4, RFC 4122", id, u.Version(), u.Variant())
		}
		if seen[id] {
			t.Fatalf("id %q given twice", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d ids, want %d", len(seen), workers*each)
	}
	for i, d := range digits {
		want := 16 // hexadecimal digits seen at the position, in 10,000 ids
		switch i {
		case 8, 13, 18, 23: // dashes
			want = 1
		case 14: // the version
			want = 1
		case 19: // the variant: 8, 9, a or b
			want = 4
		}
		if len(d) != want {
			t.Errorf("position %d of the ids took %d distinct characters, want %d", i, len(d), want)
		}
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("CET", 3600)
	ts := time.Date(2026, 10, 31, 23, 0, 0, 5, paris)
	tests := []struct {
		name        string
		init        core.EventInit
		wantErr     string
		wantID      string
		wantPayload string
	}{
		{name: "struct payload", init: core.EventInit{Type: "A", Payload: struct {
			Name string `json:"name"`
		}{"Banquo"}}, wantPayload: `{"name":"Banquo"}`},
		{name: "map payload", init: core.EventInit{Type: "A", Payload: map[string]int{"b": 2, "a": 1}}, wantPayload: `{"a":1,"b":2}`},
		{name: "raw payload compacted", init: core.EventInit{Type: "A", Payload: json.RawMessage(" { \"a\" : [1, 2] } ")}, wantPayload: `{"a":[1,2]}`},
		{name: "nil map is empty", init: core.EventInit{Type: "A", Payload: map[string]int(nil)}, wantPayload: `{}`},
		{name: "uppercase id normalised", init: core.EventInit{Type: "A", ID: "0B6F1C9E-3D5A-4F7B-9C2E-8A1D4E6F7A8B"}, wantID: "0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b", wantPayload: "{}"},
		{name: "array payload", init: core.EventInit{Type: "A", Payload: []int{1}}, wantErr: "payload: must be a JSON object, got an array"},
		{name: "string payload", init: core.EventInit{Type: "A", Payload: "hi"}, wantErr: "payload: must be a JSON object, got a string"},
		{name: "number payload", init: core.EventInit{Type: "A", Payload: 3}, wantErr: "payload: must be a JSON object, got a number"},
		{name: "raw array", init: core.EventInit{Type: "A", Payload: json.RawMessage(`[1]`)}, wantErr: "payload: must be a JSON object, got an array"},
		{name: "unencodable payload", init: core.EventInit{Type: "A", Payload: map[string]any{"c": make(chan int)}}, wantErr: "payload: cannot encode as JSON"},
		{name: "bad type", init: core.EventInit{Type: "a"}, wantErr: "event_type"},
		{name: "bad id", init: core.EventInit{Type: "A", ID: "not-a-uuid"}, wantErr: `id: "not-a-uuid" is not a UUID in canonical form`},
		{name: "braced id", init: core.EventInit{Type: "A", ID: "{0b6f1c9e-3d5a-4f7b-9c2e-8a1d4e6f7a8b}"}, wantErr: "id:"},
		{name: "year 10000", init: core.EventInit{Type: "A", Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, wantErr: "timestamp: 10000-01-01T00:00:00Z is in year 10000 in UTC"},
		{name: "year -1 in UTC", init: core.EventInit{Type: "A", Timestamp: time.Date(0, 1, 1, 0, 0, 0, 0, paris)}, wantErr: "is in year -1 in UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := core.Build(tt.init)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build: got error %v, want one containing %q", err, tt.wantErr)
				}
				if !errors.Is(err, core.ErrInvalidEvent) {
					t.Errorf("error %v does not match ErrInvalidEvent", err)
				}
				var ee *core.EventError
				if !errors.As(err, &ee) || ee.Field == "" {
					t.Errorf("error %v is not an *EventError naming a field", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if got := string(e.Payload()); got != tt.wantPayload {
				t.Errorf("Payload() = %s, want %s", got, tt.wantPayload)
			}
			if tt.wantID != "" && e.ID() != tt.wantID {
				t.Errorf("ID() = %s, want %s", e.ID(), tt.wantID)
			}
		})
	}
	e, err := core.Build(core.EventInit{Type: "A", Timestamp: ts})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Timestamp().Equal(ts) || e.Timestamp().Location() != time.UTC {
		t.Errorf("Timestamp() = %v, want %v in UTC", e.Timestamp(), ts)
	}
}

func TestEventIsImmutable(t *testing.T) {
	t.Parallel()
	raw := json.RawMessage(`{"spirit":"Banquo"}`)
	m := map[string]string{"spirit": "Banquo"}
	e1 := core.MustEvent("A", raw)
	e2 := core.MustEvent("A", m)
	raw[3] = 'X'
	m["spirit"] = "Macbeth"
	p := e1.Payload()
	p[2] = 'Z'
	if got := string(e1.Payload()); got != `{"spirit":"Banquo"}` {
		t.Errorf("e1 payload changed through an alias: %s", got)
	}
	if got := string(e2.Payload()); got != `{"spirit":"Banquo"}` {
		t.Errorf("e2 payload changed through the map: %s", got)
	}
}

func TestEventSharedBetweenGoroutines(t *testing.T) {
	t.Parallel()
	e := core.MustEvent("SHARED", map[string]int{"n": 1})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				p := e.Payload()
				p[0] = 'x' // each reader has its own copy
				if _, err := e.MarshalJSON(); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if got := string(e.Payload()); got != `{"n":1}` {
		t.Errorf("payload after concurrent use = %s", got)
	}
}

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

type spirit struct {
	Name  string `json:"name"`
	Level int    `json:"level"`
}

func TestKind(t *testing.T) {
	t.Parallel()
	k := core.NewKind[spirit]("SPIRIT_APPEARED")
	e, err := k.New(spirit{"Banquo", 3})
	if err != nil {
		t.Fatal(err)
	}
	if e.Type() != "SPIRIT_APPEARED" || k.Type() != "SPIRIT_APPEARED" {
		t.Errorf("types: event %s, kind %s", e.Type(), k.Type())
	}
	got, err := k.Decode(e)
	if err != nil || got != (spirit{"Banquo", 3}) {
		t.Errorf("Decode = %+v, %v", got, err)
	}
	if _, err := k.Decode(core.MustEvent("OTHER", nil)); err == nil || !strings.Contains(err.Error(), "has type OTHER") {
		t.Errorf("Decode of another type: got %v", err)
	}
	bad := core.MustEvent("SPIRIT_APPEARED", map[string]string{"level": "high"})
	if _, err := k.Decode(bad); err == nil {
		t.Error("Decode of a mistyped payload succeeded")
	}
	if p, err := core.PayloadAs[map[string]any](e); err != nil || p["name"] != "Banquo" {
		t.Errorf("PayloadAs = %v, %v", p, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("NewKind with an invalid type did not panic")
		}
	}()
	core.NewKind[spirit]("bad type")
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

func TestPayloadStableThroughEncodingJSON(t *testing.T) {
	t.Parallel()
	// encoding/json escapes <, > and & in what a Marshaler returns; the
	// payload must survive that byte for byte.
	e := core.MustEvent("A", json.RawMessage(`{"q":"<who> & </who>","s":"\u2028"}`))
	wire, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := core.DecodeEvent(wire)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(e) {
		t.Errorf("round trip through json.Marshal:\n got  %s\n want %s", back.Payload(), e.Payload())
	}
	var m map[string]string
	if err := back.DecodePayload(&m); err != nil || m["q"] != "<who> & </who>" {
		t.Errorf("decoded payload: %v %v", m, err)
	}
}
