package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

// commandCalls returns how many times Redis ran each command, from INFO
// commandstats ("xreadgroup" → calls).
func commandCalls(t *testing.T, rdb *goredis.Client) map[string]int {
	t.Helper()
	calls := map[string]int{}
	for name, n := range commandStats(t, rdb, "calls") {
		calls[name] = int(n)
	}
	return calls
}

// commandStats returns one field of INFO commandstats ("calls", "usec")
// for each command Redis ran ("xreadgroup" → value).
func commandStats(tb testing.TB, rdb *goredis.Client, field string) map[string]float64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	stats := map[string]float64{}
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for f := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(f, field+"="); ok {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					tb.Fatalf("%s: %v", line, err)
				}
				stats[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return stats
}

// commandHook calls see with each command the client sends on its own.
type commandHook func(goredis.Cmder)

func (h commandHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h commandHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h(cmd)
		return next(ctx, cmd)
	}
}
func (h commandHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		for _, cmd := range cmds {
			h(cmd)
		}
		return next(ctx, cmds)
	}
}

// serverClient starts a redis-server and returns it with a client of it.
func serverClient(t *testing.T) (*redistest.Server, *goredis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return srv, rdb
}

// enqueuePull enqueues n keyless events to pb (to its partitions in turn)
// and pulls them, each as a commit with the outcome out gives it.
func enqueuePull(t *testing.T, pb *nsredis.Partitioned, n int, out func(core.Delivery) core.Outcome) []core.Commit {
	t.Helper()
	ctx := ctxT(t)
	for i := range n {
		if err := pb.Enqueue(ctx, core.MustEvent("E", map[string]int{"i": i})); err != nil {
			t.Fatal(err)
		}
	}
	var commits []core.Commit
	for range n {
		d, ok, err := pb.Pull(ctx, 5*time.Second)
		if err != nil || !ok {
			t.Fatalf("after %d of %d events: Pull: %v, %v", len(commits), n, ok, err)
		}
		commits = append(commits, core.Commit{Delivery: d, Outcome: out(d)})
	}
	return commits
}

// emitNext is an outcome that emits one NEXT event.
func emitNext(core.Delivery) core.Outcome {
	return core.Outcome{Emitted: []core.Event{core.MustEvent("NEXT", nil)}}
}

// On one server one XREADGROUP reads all 16 partitions, and a batch of
// commits of every partition is one script call: 160 events of 16
// partitions take a few reads, not one or more a partition, the batch one
// EVALSHA, and every event is delivered once and committed.
func TestPartitionedMergedReads(t *testing.T) {
	_, rdb := serverClient(t)
	ctx := ctxT(t)
	pb := newPartitioned(t, nsredis.Config{Client: rdb, Stream: "merged", Batch: 256}, 16)
	const n = 160
	for i := range n {
		if err := pb.Enqueue(ctx, core.MustEvent("E", map[string]int{"i": i})); err != nil {
			t.Fatal(err)
		}
	}
	before := commandCalls(t, rdb)
	seen := map[string]bool{}
	var commits []core.Commit
	for len(seen) < n {
		d, ok, err := pb.Pull(ctx, 5*time.Second)
		if err != nil || !ok {
			t.Fatalf("after %d events: Pull: %v, %v", len(seen), ok, err)
		}
		if seen[d.Event.ID()] {
			t.Fatalf("%s delivered twice", d.Event)
		}
		seen[d.Event.ID()] = true
		commits = append(commits, core.Commit{Delivery: d})
	}
	sha := scriptSHA(t, "commit.lua")
	var commitCalls atomic.Int32
	rdb.AddHook(commandHook(func(cmd goredis.Cmder) {
		if a := cmd.Args(); len(a) > 1 && strings.EqualFold(fmt.Sprint(a[0]), "evalsha") && a[1] == sha {
			commitCalls.Add(1)
		}
	}))
	if errs := pb.CommitBatch(ctx, commits); errs != nil {
		t.Fatalf("CommitBatch: %v", errs)
	}
	after := commandCalls(t, rdb)
	// firstCount (8) a partition first, then twice that: about three reads.
	reads := after["xreadgroup"] - before["xreadgroup"]
	if reads < 1 || reads >= 16 {
		t.Errorf("%d XREADGROUP calls for %d events of 16 partitions: want one read of all partitions at a time", reads, n)
	}
	if calls := commitCalls.Load(); calls != 1 {
		t.Errorf("%d commit script calls for a batch of 16 partitions' commits: want 1", calls)
	}
	t.Logf("%d events of 16 partitions: %d reads", n, reads)
	settled(t, pb.Partitions())
}

// A script flushed from Redis (a restart, SCRIPT FLUSH) before a batch of
// several partitions: the call falls back to EVAL, and every commit lands.
func TestPartitionedMergedCommitNoScript(t *testing.T) {
	_, rdb := serverClient(t)
	ctx := ctxT(t)
	pb := newPartitioned(t, nsredis.Config{Client: rdb, Stream: "noscript"}, 4)
	commits := enqueuePull(t, pb, 8, emitNext)
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if errs := pb.CommitBatch(ctx, commits); errs != nil {
		t.Fatalf("CommitBatch after SCRIPT FLUSH: %v", errs)
	}
	for range 8 {
		d, ok, err := pb.Pull(ctx, 5*time.Second)
		if err != nil || !ok || d.Event.Type() != "NEXT" {
			t.Fatalf("Pull of an emitted event: %v, %v, %v", d.Event, ok, err)
		}
		if err := pb.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
}

// A partition's group deleted while the merged reads block: the next read
// re-creates it, and what is enqueued to that partition afterwards is
// delivered, as are the other partitions' events.
func TestPartitionedMergedLostGroup(t *testing.T) {
	_, rdb := serverClient(t)
	ctx := ctxT(t)
	pb := newPartitioned(t, nsredis.Config{Client: rdb, Stream: "lostgroup"}, 3)
	if _, ok, err := pb.Pull(ctx, 200*time.Millisecond); ok || err != nil {
		t.Fatalf("the first Pull of an empty stream: %v, %v", ok, err)
	}
	if err := rdb.XGroupDestroy(ctx, nsredis.PartitionStream("lostgroup", 1, 3), "necrostack").Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		if err := pb.Enqueue(ctx, core.MustEvent("E", map[string]int{"i": i})); err != nil {
			t.Fatal(err)
		}
	}
	seen, failed := map[string]bool{}, 0
	for len(seen) < 9 {
		d, ok, err := pb.Pull(ctx, 5*time.Second)
		if err != nil {
			if failed++; failed > 2 {
				t.Fatalf("Pull failed %d times: %v", failed, err)
			}
			t.Logf("Pull: %v", err) // the read the deletion ended may report it
			continue
		}
		if !ok {
			t.Fatalf("after %d of 9 events: none within 5 s", len(seen))
		}
		if seen[d.Event.ID()] {
			t.Fatalf("%s delivered twice", d.Event)
		}
		seen[d.Event.ID()] = true
		if err := pb.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
}

// A key one partition's commits write (its dead letters), of the wrong
// type, fails a batch of four partitions' commits before anything is
// written: no partition's emits
// land, every entry stays pending, and the error names the key.
func TestPartitionedMergedCommitChecksFirst(t *testing.T) {
	_, rdb := serverClient(t)
	ctx := ctxT(t)
	pb := newPartitioned(t, nsredis.Config{Client: rdb, Stream: "checks"}, 4)
	commits := enqueuePull(t, pb, 8, func(d core.Delivery) core.Outcome {
		out := emitNext(d)
		if strings.HasPrefix(d.Receipt, "3/") { // partition 3's also dead-letter something
			out.DeadLetters = []core.DeadLetter{{Event: core.MustEvent("X", nil), Reason: core.ReasonUnroutable, Error: "no organ"}}
		}
		return out
	})
	bad := nsredis.PartitionStream("checks", 3, 4) + ":dlq"
	if err := rdb.Set(ctx, bad, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	errs := pb.CommitBatch(ctx, commits)
	if len(errs) != 8 {
		t.Fatalf("CommitBatch with %s a string: %v, want an error for each commit", bad, errs)
	}
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "WRONGTYPE key "+bad) {
			t.Errorf("commit %d: %v, want WRONGTYPE naming %s", i, err, bad)
		}
	}
	for i, part := range pb.Partitions() {
		st := part.Config().Stream
		n, err := rdb.XLen(ctx, st).Result()
		if err != nil {
			t.Fatal(err)
		}
		p, err := rdb.XPending(ctx, st, "necrostack").Result()
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 || p.Count != 2 {
			t.Errorf("partition %d after the refused batch: %d entries, %d pending; want its 2, both pending", i, n, p.Count)
		}
	}
}

// The reply of a batch of four partitions' commits cut after Redis ran
// it: the retry of the same batch finds the call's token in the first
// partition's record and answers done, and nothing is written twice.
func TestPartitionedMergedCommitReplyCut(t *testing.T) {
	srv, rdb := serverClient(t)
	proxy := redistest.StartProxy(t, srv.Addr())
	ctx := ctxT(t)
	pb := newPartitioned(t, nsredis.Config{URL: proxy.URL(), Stream: "replycut", Timeout: time.Second}, 4)
	commits := enqueuePull(t, pb, 8, emitNext)
	if err := rdb.ScriptLoad(ctx, scriptSource(t, "commit.lua")).Err(); err != nil {
		t.Fatal(err)
	}
	proxy.CutReply(evalOf(scriptSHA(t, "commit.lua")), 1)
	errs := pb.CommitBatch(ctx, commits)
	if len(errs) != 8 || slices.Contains(errs, nil) {
		t.Fatalf("CommitBatch with its reply cut: %v, want an error for each commit", errs)
	}
	if errs := pb.CommitBatch(ctx, commits); errs != nil {
		t.Fatalf("the retry of the batch: %v, want it found done", errs)
	}
	for i, part := range pb.Partitions() {
		s, err := part.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Length != 4 || s.Groups[0].Pending != 0 {
			t.Errorf("partition %d: %d entries, %d pending; want its 2 inputs and 2 emitted events once, none pending", i, s.Length, s.Groups[0].Pending)
		}
	}
}

// A plain URL to a node of a Redis Cluster, with partitions: the merged
// read of every partition is refused (CROSSSLOT), and Pull says so, fatal,
// naming the cluster URL to use, instead of retrying for ever.
func TestPartitionedPlainURLToAClusterNode(t *testing.T) {
	c := redistest.StartCluster(t, 1, 0)
	ctx := ctxT(t)
	pb := newPartitioned(t, nsredis.Config{URL: "redis://" + c.Addrs()[0], Stream: "plain"}, 4)
	_, ok, err := pb.Pull(ctx, 2*time.Second)
	if ok || !errors.Is(err, core.ErrFatal) || !strings.Contains(err.Error(), "CROSSSLOT") || !strings.Contains(err.Error(), "cluster=true") {
		t.Fatalf("Pull over a plain URL to a cluster node: %v, %v; want a fatal CROSSSLOT error naming cluster=true", ok, err)
	}
}

// A batch of four partitions' commits, one of whose groups is lost
// (NOGROUP), writes nothing in any partition: the script finds the lost
// group before any partition's writes, so no commit is reported lost while
// its events landed. Every commit fails, and every entry of the other
// partitions stays pending, to be committed later.
func TestPartitionedMergedCommitLostGroupWritesNothing(t *testing.T) {
	_, rdb := serverClient(t)
	ctx := ctxT(t)
	pb := newPartitioned(t, nsredis.Config{Client: rdb, Stream: "lostmid"}, 4)
	commits := enqueuePull(t, pb, 8, emitNext)
	lost := nsredis.PartitionStream("lostmid", 2, 4)
	if err := rdb.XGroupDestroy(ctx, lost, "necrostack").Err(); err != nil {
		t.Fatal(err)
	}
	errs := pb.CommitBatch(ctx, commits)
	if len(errs) != 8 || slices.Contains(errs, nil) {
		t.Fatalf("CommitBatch with partition 2's group lost: %v, want an error for each commit", errs)
	}
	for i, part := range pb.Partitions() {
		st := part.Config().Stream
		n, err := rdb.XLen(ctx, st).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("partition %d after the failed batch: %d entries, want its 2 inputs and nothing emitted", i, n)
		}
		if st == lost {
			continue
		}
		p, err := rdb.XPending(ctx, st, "necrostack").Result()
		if err != nil {
			t.Fatal(err)
		}
		if p.Count != 2 {
			t.Errorf("partition %d after the failed batch: %d pending, want its 2", i, p.Count)
		}
	}
}
