package redis_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

// The master of some of six partitions is SIGKILLed under load and its
// replica promoted (the killed one then comes back, as a replica): with
// WaitReplicas 1, every ritual of the chain completes, each event once in
// the streams (nothing lost, no emit duplicated), nothing left pending, no
// dead letter.
func TestFailoverWithWaitReplicas(t *testing.T) {
	c := redistest.StartCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const P, rituals = 6, 300
	pb := newPartitioned(t, nsredis.Config{Client: c.Client(), Stream: "failover", WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond}, P)

	var mu sync.Mutex
	calls := map[string]int{} // calls of each organ, for the log: handling is at least once; the stream's count below must be exact
	step := func(name, from, to string) core.Organ {
		return core.OrganFunc(name, []string{from}, func(_ context.Context, e core.Event) ([]core.Event, error) {
			mu.Lock()
			calls[name]++
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			if to == "" {
				return nil, nil
			}
			return core.Emit(core.MustEvent(to, map[string]string{"from": e.ID()})), nil
		})
	}
	organs := []core.Organ{step("Summoner", "SUMMON", "SPIRIT"), step("Medium", "SPIRIT", "ANSWER"), step("Oracle", "ANSWER", "OMEN"), step("Scribe", "OMEN", "")}
	spine, err := core.NewSpine(pb, organs, core.Config{Concurrency: 4, PullTimeout: 200 * time.Millisecond, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rituals {
		e, err := core.Build(core.EventInit{Type: "SUMMON", Key: fmt.Sprint("ritual-", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := pb.Enqueue(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- spine.Run(runCtx) }()
	running := func() {
		t.Helper()
		select {
		case err := <-done:
			t.Fatalf("Run ended early: %v", err)
		case <-ctx.Done():
			t.Fatalf("timed out: %v", ctx.Err())
		default:
		}
	}
	onKilled := 0
	for i := range P {
		if m, err := c.Client().MasterForKey(ctx, nsredis.PartitionStream("failover", i, P)); err == nil && m.Options().Addr == c.Masters[0].Addr() {
			onKilled++
		}
	}
	if onKilled == 0 {
		t.Fatal("no partition on the master to be killed")
	}
	for spine.Stats().Handled < rituals/2 {
		running()
		time.Sleep(10 * time.Millisecond)
	}
	c.Masters[0].Kill()
	killedAt := time.Now()
	// Once its replica has taken over, the killed master comes back, as a
	// replica of the new one: WAIT 1 needs a replica there again.
	promoted := goredis.NewClient(&goredis.Options{Addr: c.Replicas[0].Addr()})
	defer promoted.Close()
	for {
		info, err := promoted.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "role:master") {
			break
		}
		running()
		time.Sleep(50 * time.Millisecond)
	}
	promotedAfter := time.Since(killedAt)
	c.Masters[0].Start()
	// Until the streams hold each ritual's four events and nothing is
	// pending or unread (Handled counts redeliveries too).
	settled := func() (entries int64, ok bool) {
		ok = true
		for _, part := range pb.Partitions() {
			s, err := part.Stats(ctx)
			if err != nil || len(s.Groups) != 1 {
				return entries, false
			}
			entries += s.Length
			ok = ok && s.Groups[0].Pending == 0 && s.Groups[0].Lag == 0
		}
		return entries, ok && entries >= 4*rituals
	}
	for {
		if _, ok := settled(); ok {
			break
		}
		running()
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	t.Logf("%d of %d partitions on the killed master; its replica promoted %v after the kill; the chain settled %v after it; calls made: %v",
		onKilled, P, promotedAfter, time.Since(killedAt), calls)
	mu.Unlock()
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	var entries int64
	for i, part := range pb.Partitions() {
		s, err := part.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		entries += s.Length
		if s.DeadLetters != 0 || s.Groups[0].Pending != 0 || s.Groups[0].Lag != 0 {
			t.Errorf("partition %d: %+v", i, s)
		}
	}
	if entries != 4*rituals {
		t.Errorf("%d entries in the partitions, want %d: each ritual's four events once", entries, 4*rituals)
	}
}
