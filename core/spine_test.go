package core_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fast returns options for tests: quick pulls and retries, no logs.
func fast() core.Config {
	return core.Config{
		PullTimeout: 20 * time.Millisecond,
		Retry:       core.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond},
		Logger:      quiet(),
	}
}

// runInBackground starts s.Run; cancel stops it, and done yields its result.
func runInBackground(s *core.Spine) (cancel context.CancelFunc, done <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- s.Run(ctx) }()
	return cancel, ch
}

func runUntilIdle(t *testing.T, s *core.Spine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.RunUntilIdle(ctx); err != nil {
		t.Fatalf("RunUntilIdle: %v", err)
	}
}

func newSpine(t *testing.T, b core.Backend, opts core.Config, organs ...core.Organ) *core.Spine {
	t.Helper()
	s, err := core.NewSpine(b, organs, opts)
	if err != nil {
		t.Fatalf("NewSpine: %v", err)
	}
	return s
}

func relay(name, from, to string) core.Organ {
	return core.OrganFunc(name, []string{from}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		if to == "" {
			return nil, nil
		}
		return core.Emit(core.MustEvent(to, e.Payload())), nil
	})
}

func TestNewSpineValidation(t *testing.T) {
	t.Parallel()
	ok := relay("Ok", "A", "")
	noop := func(context.Context, core.Event) ([]core.Event, error) { return nil, nil }
	tests := []struct {
		name    string
		backend core.Backend
		organs  []core.Organ
		opts    core.Config
		wantErr string
	}{
		{"nil backend", nil, []core.Organ{ok}, core.Config{}, "backend is nil"},
		{"no organs", newFIFO(), nil, core.Config{}, "at least one organ"},
		{"nil organ", newFIFO(), []core.Organ{ok, nil}, core.Config{}, "organ #1 is nil"},
		{"no types", newFIFO(), []core.Organ{core.OrganFunc("Deaf", nil, noop)}, core.Config{}, `organ "Deaf" listens to no event type`},
		{"invalid type", newFIFO(), []core.Organ{core.OrganFunc("Bad", []string{"not-upper"}, noop)}, core.Config{}, `organ "Bad": invalid event: event_type`},
		{"duplicate names", newFIFO(), []core.Organ{ok, relay("Ok", "B", "")}, core.Config{}, `organ #0 and #1 are both named "Ok"`},
		{"duplicate type names", newFIFO(), []core.Organ{Summoner{}, &Summoner{}}, core.Config{}, `both named "Summoner"`},
		{"nil function", newFIFO(), []core.Organ{ok, core.OrganFunc("Scribe", []string{"A"}, nil)}, core.Config{}, `spine: organ "Scribe" has a nil function`},
		{"empty name", newFIFO(), []core.Organ{core.OrganFunc("", []string{"A"}, noop)}, core.Config{}, "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := core.NewSpine(tt.backend, tt.organs, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewSpine: got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
