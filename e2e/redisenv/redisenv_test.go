package redisenv_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/e2e/redisenv"
)

// A kill loses nothing acknowledged with AOF on; a restart without
// persistence comes back empty; both at the same address.
func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	skipShort(t)
	for _, tt := range []struct {
		name     string
		opts     redisenv.Config
		wantKeep bool
	}{
		{"persistent", redisenv.Config{}, true},
		{"ephemeral", redisenv.Config{NoPersistence: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			r := redisenv.Start(t, tt.opts)
			if !strings.HasPrefix(r.Addr(), "127.0.0.1:") {
				t.Fatalf("Addr() = %q, want 127.0.0.1:port", r.Addr())
			}
			rdb := r.Client()
			if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "s", Values: []any{"k", "v"}}).Err(); err != nil {
				t.Fatalf("XADD: %v", err)
			}
			addr := r.Addr()
			r.Kill()
			if err := rdb.Ping(ctx).Err(); err == nil {
				t.Fatal("PING answered after Kill")
			}
			r.Start()
			if r.Addr() != addr {
				t.Fatalf("address changed across restart: %s, then %s", addr, r.Addr())
			}
			n, err := rdb.XLen(ctx, "s").Result()
			if err != nil {
				t.Fatalf("XLEN after restart: %v", err)
			}
			if want := map[bool]int64{true: 1, false: 0}[tt.wantKeep]; n != want {
				t.Errorf("XLEN after kill and restart: got %d, want %d", n, want)
			}
			r.Stop()
			r.Start()
			if err := rdb.Ping(ctx).Err(); err != nil {
				t.Errorf("PING after Stop and Start: %v", err)
			}
		})
	}
}

// Stopped prepares a Redis that is not up until Start.
func TestStopped(t *testing.T) {
	t.Parallel()
	skipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := redisenv.Start(t, redisenv.Config{Stopped: true, NoPersistence: true})
	rdb := r.Client()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered before Start")
	}
	r.Start()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Start: %v", err)
	}
	t.Logf("kind %s", r.Kind())
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Redis: run without -short")
	}
}

// A cluster of three masters and three replicas: every node on
// 127.0.0.1, keys of every master's slots written through a cluster
// client, a replica of each in sync, and a killed master replaced by its
// replica.
func TestCluster(t *testing.T) {
	t.Parallel()
	skipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := redisenv.StartCluster(t, 3, 1)
	for _, a := range c.Addrs() {
		if !strings.HasPrefix(a, "127.0.0.1:") {
			t.Fatalf("node at %s, want 127.0.0.1:port", a)
		}
	}
	rdb := c.Client()
	for i := range 300 {
		if err := rdb.Set(ctx, "k"+strconv.Itoa(i), i, 0).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
	}
	for _, m := range c.Masters {
		n, err := m.Client().DBSize(ctx).Result()
		if err != nil || n < 50 {
			t.Errorf("master %s holds %d keys (%v), want about a third of 300", m.Addr(), n, err)
		}
	}
	c.Masters[0].Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := c.Replicas[0].Client().Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "role:master") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica of the killed master was not promoted: %s %v", info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
