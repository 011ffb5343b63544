package redistest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/backends/redis/redistest"
)

// A cluster of three masters with a replica each forms, spreads keys over
// its masters, and promotes a replica when its master is killed.
func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	rdb := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 30 {
		if err := rdb.Set(ctx, fmt.Sprint("key-", i), i, 0).Err(); err != nil {
			t.Fatalf("SET key-%d: %v", i, err)
		}
	}
	var mu sync.Mutex
	per := map[string]int{}
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *goredis.Client) error { // at once, on each
		n, err := m.DBSize(ctx).Result()
		mu.Lock()
		per[m.Options().Addr] = int(n)
		mu.Unlock()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(per) != 3 {
		t.Fatalf("keys on %d masters, want 3: %v", len(per), per)
	}
	for addr, n := range per {
		if n == 0 {
			t.Errorf("master %s holds none of the 30 keys: %v", addr, per)
		}
	}

	// Replication is asynchronous: the keys must be on the replica before
	// its master dies, or it takes over without them.
	master := goredis.NewClient(&goredis.Options{Addr: c.Masters[0].Addr()})
	defer master.Close()
	for deadline := time.Now().Add(10 * redistest.NodeTimeout); ; time.Sleep(50 * time.Millisecond) {
		if n, err := master.Wait(ctx, 1, time.Second).Result(); err == nil && n >= 1 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the replica of %s never acknowledged its writes: %d, %v", c.Masters[0].Addr(), n, err)
		}
	}
	c.Masters[0].Kill()
	replica := goredis.NewClient(&goredis.Options{Addr: c.Replicas[0].Addr()})
	defer replica.Close()
	deadline := time.Now().Add(10 * redistest.NodeTimeout)
	for {
		repl, err := replica.Info(ctx, "replication").Result()
		// A new client each time: one that knew the killed master keeps
		// its map of the slots until it reloads it (10 s).
		if err == nil && strings.Contains(repl, "role:master") && allThere(ctx, goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs()})) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica of the killed master did not take over within %v:\n%s (%v)", 10*redistest.NodeTimeout, repl, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// allThere reports whether the 30 keys read back, each its own value.
func allThere(ctx context.Context, rdb *goredis.ClusterClient) bool {
	defer rdb.Close()
	for i := range 30 {
		if v, err := rdb.Get(ctx, fmt.Sprint("key-", i)).Int(); err != nil || v != i {
			return false
		}
	}
	return true
}
