package core_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

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
