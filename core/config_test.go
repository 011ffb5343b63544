package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

// NewSpine rejects a bad Config with an error that names the field.
func TestConfigValidation(t *testing.T) {
	t.Parallel()
	ok := relay("Ok", "A", "")
	tests := []struct {
		name    string
		opts    core.Config
		wantErr string
	}{
		{"negative concurrency", core.Config{Concurrency: -1}, "Concurrency -1"},
		{"bad max steps", core.Config{MaxSteps: -2}, "MaxSteps -2"},
		{"negative pull timeout", core.Config{PullTimeout: -time.Second}, "PullTimeout"},
		{"negative attempts", core.Config{Retry: core.RetryPolicy{MaxAttempts: -1}}, "Retry.MaxAttempts"},
		{"backoff cap below start", core.Config{Retry: core.RetryPolicy{InitialBackoff: time.Second, MaxBackoff: time.Millisecond}}, "Retry.MaxBackoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := core.NewSpine(newFIFO(), []core.Organ{ok}, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewSpine: got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRetryPolicyBackoff(t *testing.T) {
	t.Parallel()
	p := core.RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	tests := []struct {
		attempt  int
		min, max time.Duration
	}{
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, 100 * time.Millisecond, 200 * time.Millisecond},
		{3, 200 * time.Millisecond, 400 * time.Millisecond},
		{5, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Backoff(tt.attempt)
			if d < tt.min || d > tt.max {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", tt.attempt, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("Backoff(%d) took only %d distinct values in 200 draws: no jitter?", tt.attempt, len(seen))
		}
	}
}
