package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// parityOrgans fan out, fail for one branch, and emit an event larger than
// the default MaxEventBytes for another: ORDER → 3 LINE → BILL; the Auditor
// fails BILL 1; the Biller's BILL for line 2 is 2 MiB.
func parityOrgans() []core.Organ {
	split := core.OrganFunc("Splitter", []string{"ORDER"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		var out []core.Event
		for i := range 3 {
			out = append(out, core.MustEvent("LINE", map[string]any{"order": e.ID(), "line": i}))
		}
		return out, nil
	})
	bill := core.OrganFunc("Biller", []string{"LINE"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		var line struct{ Line int }
		if err := e.DecodePayload(&line); err != nil {
			return nil, err
		}
		note := ""
		if line.Line == 2 {
			note = strings.Repeat("x", 2<<20)
		}
		// A fixed time, so that the oversized event's length, in the
		// dead letter's error, is the same on every run.
		bill, err := core.Build(core.EventInit{Type: "BILL", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Payload: map[string]any{"line": line.Line, "note": note}})
		return core.Emit(bill), err
	})
	audit := core.OrganFunc("Auditor", []string{"BILL"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		if strings.Contains(string(e.Payload()), `"line":1`) {
			return nil, fmt.Errorf("bill %s does not add up", e.ID())
		}
		return nil, nil
	})
	return []core.Organ{split, bill, audit}
}

// The harness runs a chain over the Redis backend (miniredis, and a real
// redis-server, a Redis Cluster, one and four events at a time) and records the same chain as on its in-process queue:
// the same events from the same parents, the same dead letters, the
// oversized event refused by the commit script as the harness refuses it.
func TestHarnessOverRedis(t *testing.T) {
	ctx := ctxT(t)
	run := func(t *testing.T, b core.Backend, concurrency int) *necrotest.Trace {
		t.Helper()
		seed := core.MustEvent("ORDER", map[string]int{"n": 1})
		tr, err := necrotest.RunWith(ctx, necrotest.Config{Backend: b, Concurrency: concurrency, MaxAttempts: 2, Logger: discard()}, parityOrgans(), seed)
		if err != nil {
			t.Fatalf("RunWith: %v\n%s", err, tr)
		}
		return tr
	}
	want := run(t, nil, 1).Canonical()
	for _, c := range []string{
		`dead e6 LINE organ=Biller reason=commit_rejected attempts=1`,
		`dead e5 BILL organ=Auditor reason=handler_failed attempts=2`,
	} {
		if !strings.Contains(want, c) {
			t.Fatalf("the in-process run lacks %q:\n%s", c, want)
		}
	}
	newBackend := func(t *testing.T, cfg nsredis.Config) *nsredis.Backend {
		cfg.Logger = discard()
		b, err := nsredis.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	// The backend's refusal of the oversized event says where it comes
	// from; the rest of its text is the harness's.
	canonical := func(tr *necrotest.Trace) string {
		return strings.Replace(tr.Canonical(), "attempts=1: redis: event BILL", "attempts=1: event BILL", 1)
	}
	for _, c := range []struct {
		name        string
		cfg         func(t *testing.T) nsredis.Config
		concurrency int
	}{
		{"miniredis", func(t *testing.T) nsredis.Config { return nsredis.Config{URL: "redis://" + miniredis.RunT(t).Addr()} }, 1},
		{"redis-server", func(t *testing.T) nsredis.Config { return nsredis.Config{URL: redistest.Start(t).URL()} }, 1},
		{"redis-server, Concurrency 4", func(t *testing.T) nsredis.Config { return nsredis.Config{URL: redistest.Start(t).URL()} }, 4},
		{"Redis Cluster, Concurrency 4", func(t *testing.T) nsredis.Config {
			return nsredis.Config{Client: redistest.StartCluster(t, 3, 0).Client(), Stream: "{parity}:events"}
		}, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBackend(t, c.cfg(t))
			if got := canonical(run(t, b, c.concurrency)); got != want {
				t.Errorf("over %s:\n%s\nin process, one at a time:\n%s", c.name, got, want)
			}
			if c.name == "miniredis" {
				return // it reports no lag
			}
			s, err := b.Stats(ctx)
			if err != nil || s.Length != 6 || s.DeadLetters != 2 || len(s.Groups) != 1 || s.Groups[0].Pending != 0 || s.Groups[0].Lag != 0 {
				t.Errorf("the stream after the run: %+v, %v; want 6 entries (the seed, 3 lines, 2 bills), 2 dead letters, nothing pending or unread", s, err)
			}
		})
	}
}
