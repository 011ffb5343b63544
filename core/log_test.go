package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

func TestLogging(t *testing.T) {
	t.Parallel()
	// run returns the lines logged at level and the seed of the chain.
	run := func(level slog.Level) ([]map[string]any, core.Event) {
		var buf bytes.Buffer
		opts := fast()
		opts.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
		opts.Retry.MaxAttempts = 2
		b := &committing{fifo: newFIFO()}
		s := newSpine(t, b, opts, relay("Relay", "A", "B"),
			core.OrganFunc("Broken", []string{"B"}, func(context.Context, core.Event) ([]core.Event, error) {
				return nil, errors.New("snapped")
			}))
		seed := core.MustEvent("A", nil)
		_ = s.Enqueue(context.Background(), seed)
		runUntilIdle(t, s)
		var lines []map[string]any
		for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Fatalf("log line is not JSON: %s", l)
			}
			lines = append(lines, m)
		}
		return lines, seed
	}
	debug, seed := run(slog.LevelDebug)
	var handled map[string]any
	for _, l := range debug {
		if l["msg"] == "handled" {
			handled = l
			break
		}
	}
	if handled == nil {
		t.Fatalf("no per-event line at Debug: %v", debug)
	}
	for _, k := range []string{core.KeyEventID, core.KeyCorrelationID, core.KeyEventType, core.KeyOrgan, core.KeyEmitted, core.KeyDuration, core.KeyAttempt} {
		if _, ok := handled[k]; !ok {
			t.Errorf("handled line lacks %q: %v", k, handled)
		}
	}
	// Only Relay succeeds, so the line is about the seed.
	if got, want := handled[core.KeyEventID], seed.ID(); got != want {
		t.Errorf("handled line: %s = %v, want the seed's %q", core.KeyEventID, got, want)
	}
	if got, want := handled[core.KeyCorrelationID], seed.CorrelationID(); got != want {
		t.Errorf("handled line: %s = %v, want the seed's %q", core.KeyCorrelationID, got, want)
	}
	info, seed := run(slog.LevelInfo)
	var msgs []string
	for _, l := range info {
		msgs = append(msgs, fmt.Sprint(l["level"], " ", l["msg"]))
		if l["msg"] == "handler failed; event dead-lettered for organ" {
			if l[core.KeyOrgan] != "Broken" || l[core.KeyError] != "snapped" || l[core.KeyAttempt] != 2.0 {
				t.Errorf("failure line: %v", l)
			}
			// The B that failed is the seed's child: its own id, the
			// chain's correlation id.
			if l[core.KeyEventID] == seed.ID() || l[core.KeyCorrelationID] != seed.CorrelationID() {
				t.Errorf("failure line: %s = %v, %s = %v; want a child of the seed %q, in its chain %q",
					core.KeyEventID, l[core.KeyEventID], core.KeyCorrelationID, l[core.KeyCorrelationID], seed.ID(), seed.CorrelationID())
			}
		}
		if l["msg"] == "handler failed; retrying" {
			// fast() backs off 1ms after the first failure, drawn from [0.5ms, 1ms].
			if ms, ok := l[core.KeyBackoff].(float64); !ok || ms < 0.5 || ms > 1 {
				t.Errorf("retry line: %s = %v, want milliseconds in [0.5, 1]", core.KeyBackoff, l[core.KeyBackoff])
			}
		}
	}
	want := []string{"WARN handler failed; retrying", "ERROR handler failed; event dead-lettered for organ"}
	if !slices.Equal(msgs, want) {
		t.Errorf("Info-level lines: got %v, want %v (no per-event lines)", msgs, want)
	}
}

// Durations are logged as float milliseconds, not as slog.Duration's
// integer nanoseconds.
func TestLogDurationsInMilliseconds(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	opts := fast()
	opts.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const work = 5 * time.Millisecond
	s := newSpine(t, &committing{fifo: newFIFO()}, opts, core.OrganFunc("Slow", []string{"A"}, func(context.Context, core.Event) ([]core.Event, error) {
		time.Sleep(work) // the organ's work
		return nil, nil
	}))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		if m["msg"] != "handled" {
			continue
		}
		ms, ok := m[core.KeyDuration].(float64)
		if !ok || ms < float64(work/time.Millisecond) || ms > 5000 {
			t.Errorf("handled line: %s = %v, want the milliseconds of a %v call", core.KeyDuration, m[core.KeyDuration], work)
		}
		return
	}
	t.Fatalf("no handled line:\n%s", buf.String())
}
