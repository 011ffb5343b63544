package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/necrostack/necrostack/core"
)

func TestPullErrorsBackOffAndRecover(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	b := newFIFO()
	b.pullErrs = []error{errTransient, errTransient, errTransient}
	opts := fast()
	opts.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	var handled atomic.Int32
	s := newSpine(t, b, opts, core.OrganFunc("Only", []string{"A"}, func(context.Context, core.Event) ([]core.Event, error) {
		handled.Add(1)
		return nil, nil
	}))
	_ = b.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	if handled.Load() != 1 {
		t.Fatalf("handled %d, want 1 after the backend recovered", handled.Load())
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if n := strings.Count(out, `"msg":"pull failed; backing off"`); n != 1 {
		t.Errorf("pull failure lines at Info: got %d, want 1 per outage\n%s", n, out)
	}
	if !strings.Contains(out, `"msg":"pull recovered","failures":3`) {
		t.Errorf("no recovery line:\n%s", out)
	}
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["msg"] != "pull failed; backing off" || m[core.KeyAttempt] != 1.0 {
			continue
		}
		// The first pull backoff is drawn from [25ms, 50ms].
		if ms, ok := m[core.KeyBackoff].(float64); !ok || ms < 25 || ms > 50 {
			t.Errorf("first pull failure: %s = %v, want milliseconds in [25, 50]", core.KeyBackoff, m[core.KeyBackoff])
		}
	}
}
