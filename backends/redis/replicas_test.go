package redis_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// With WaitReplicas 1, what Enqueue and the commits wrote is on the
// replica when they return; with the replica down they fail (Enqueue with
// ErrNotReplicated), the Spine retries the commits, and once the replica
// is back the chain completes with every event once.
func TestWaitReplicas(t *testing.T) {
	ctx := ctxT(t)
	master := redistest.Start(t, "--repl-diskless-sync-delay", "0") // a replica's resync at once, not after 5 s
	_, port, _ := strings.Cut(master.Addr(), ":")
	replica := redistest.Start(t, "--replicaof", "127.0.0.1", port)
	rrdb := goredis.NewClient(&goredis.Options{Addr: replica.Addr()})
	defer rrdb.Close()
	mrdb := goredis.NewClient(&goredis.Options{Addr: master.Addr()})
	defer mrdb.Close()
	inSync := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			info, err := rrdb.Info(ctx, "replication").Result()
			if err == nil && strings.Contains(info, "master_link_status:up") {
				// And it streams writes: after a diskless sync the master
				// holds them back until the replica's first ACK, which
				// may come a second later.
				mrdb.Incr(ctx, "synced")
				if n, err := mrdb.Do(ctx, "WAIT", 1, 2000).Int(); err == nil && n == 1 {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the replica did not sync: %s %v", info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	inSync()
	logs := &logRecorder{}
	b := newBackend(t, nsredis.Config{URL: master.URL(), Stream: "durable", WaitReplicas: 1, WaitTimeout: 300 * time.Millisecond, Logger: slog.New(logs)})

	organs := func() []core.Organ {
		return []core.Organ{core.OrganFunc("Echo", []string{"PING"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
			return core.Emit(core.MustEvent("PONG", nil)), nil
		})}
	}
	seeds := func(n int) []core.Event {
		out := make([]core.Event, n)
		for i := range out {
			out[i] = core.MustEvent("PING", map[string]int{"i": i})
		}
		return out
	}
	if _, err := necrotest.RunWith(ctx, necrotest.Config{Backend: b, Logger: discard()}, organs(), seeds(20)...); err != nil {
		t.Fatal(err)
	}
	if n, err := rrdb.XLen(ctx, "durable").Result(); err != nil || n != 40 {
		t.Fatalf("the replica holds %d entries (%v) when the run returns, want 40 (20 PING, 20 PONG)", n, err)
	}

	for _, e := range seeds(5) { // for a chain whose commits come while the replica is down
		if err := b.Enqueue(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	replica.Kill()
	err := b.Enqueue(ctx, core.MustEvent("PING", nil))
	if !errors.Is(err, nsredis.ErrNotReplicated) || !strings.Contains(err.Error(), "0 of 1 replicas acknowledged within 300ms") {
		t.Fatalf("Enqueue with the replica down: %v", err)
	}
	// A chain while the replica is down: its commits fail until it is back.
	done := make(chan error, 1)
	var tr *necrotest.Trace
	go func() {
		var err error
		tr, err = necrotest.RunWith(ctx, necrotest.Config{Backend: b, Logger: discard()}, organs())
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the run ended with the replica down: %v", err)
	case <-time.After(time.Second):
	}
	replica.Start()
	inSync()
	if err := <-done; err != nil {
		t.Fatalf("RunWith after the replica came back: %v", err)
	}
	tr.RequireCount(t, "PONG", 6) // the 5 seeds', and that of the unreplicated one
	if found := logs.lines(slog.LevelInfo, "its retry found it done"); len(found) == 0 {
		t.Error("no commit failed for want of the replica and was found done by its retry")
	}
	// 40, the 5 PING and the PING of the failed Enqueue (on the master,
	// not replicated when it returned), and a PONG for each of the 6.
	for _, rdb := range []*goredis.Client{b.Client().(*goredis.Client), rrdb} {
		if n, err := rdb.XLen(ctx, "durable").Result(); err != nil || n != 52 {
			t.Errorf("%s holds %d entries (%v), want 52", rdb.Options().Addr, n, err)
		}
	}
	s, err := b.Stats(ctx)
	if err != nil || s.Groups[0].Pending != 0 || s.Groups[0].Lag != 0 {
		t.Errorf("after the run: %+v, %v", s, err)
	}
}

// WaitReplicas is refused with a client it cannot pin to a connection,
// and with a WaitTimeout not below Timeout.
func TestWaitReplicasRefuses(t *testing.T) {
	srv := redistest.Start(t)
	ring := goredis.NewRing(&goredis.RingOptions{Addrs: map[string]string{"a": srv.Addr()}})
	defer ring.Close()
	for _, c := range []struct {
		cfg  nsredis.Config
		want string
	}{
		{nsredis.Config{Client: ring, WaitReplicas: 1}, "WaitReplicas needs a *redis.Client or a *redis.ClusterClient"},
		{nsredis.Config{URL: srv.URL(), WaitReplicas: 1, WaitTimeout: 2 * time.Second}, "WaitTimeout: 2s is not below Timeout (2s)"},
		{nsredis.Config{URL: srv.URL(), WaitReplicas: -1}, "WaitReplicas: -1 is negative"},
		{nsredis.Config{URL: srv.URL(), WaitReplicas: 1, WaitTimeout: 500 * time.Microsecond}, "below Redis's 1ms resolution"},
		{nsredis.Config{URL: srv.URL(), WaitReplicas: 1, Mode: nsredis.ModeStream}, "WaitReplicas: is for ModeGroup"},
	} {
		_, err := nsredis.New(ctxT(t), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}
