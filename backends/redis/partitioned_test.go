package redis_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func newPartitioned(t *testing.T, cfg nsredis.Config, p int) *nsredis.Partitioned {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	if cfg.Block == 0 {
		cfg.Block = 100 * time.Millisecond
	}
	pb, err := nsredis.NewPartitioned(ctxT(t), cfg, p)
	if err != nil {
		t.Fatalf("NewPartitioned: %v", err)
	}
	t.Cleanup(func() { pb.Close() })
	return pb
}

func partitionedDeadLetters(t *testing.T, b core.Backend) []core.DeadLetter {
	t.Helper()
	var out []core.DeadLetter
	for _, part := range b.(*nsredis.Partitioned).Partitions() {
		out = append(out, listDeadLetters(t, part)...)
	}
	return out
}

// Eight partitions pass the conformance suite, on one server and on a
// cluster, in order among the events of one key.
func TestConformancePartitioned(t *testing.T) {
	srv := redistest.Start(t)
	t.Run("one server", func(t *testing.T) {
		necrotest.TestBackend(t, necrotest.BackendSuite{
			New: func(t *testing.T) core.Backend {
				return newPartitioned(t, nsredis.Config{URL: srv.URL(), Stream: "conformance:" + t.Name()}, 8)
			},
			DeadLetters: partitionedDeadLetters,
			Key:         "conformance-key",
		})
	})
	t.Run("cluster", func(t *testing.T) {
		rdb := redistest.StartCluster(t, 3, 0).Client()
		necrotest.TestBackend(t, necrotest.BackendSuite{
			New: func(t *testing.T) core.Backend {
				return newPartitioned(t, nsredis.Config{Client: rdb, Stream: "conformance:" + t.Name()}, 8)
			},
			DeadLetters: partitionedDeadLetters,
			Key:         "conformance-key",
		})
	})
}

// Keyed events go to their key's partition, keyless ones to each in turn.
func TestPartitionedRouting(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	pb := newPartitioned(t, nsredis.Config{URL: srv.URL(), Stream: "routing"}, 4)
	for range 40 {
		if err := pb.Enqueue(ctx, core.MustEvent("SPREAD", nil)); err != nil {
			t.Fatal(err)
		}
	}
	want := []int64{10, 10, 10, 10}
	for i := range 20 {
		key := fmt.Sprint("order-", i)
		e, err := core.Build(core.EventInit{Type: "KEYED", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if err := pb.Enqueue(ctx, e); err != nil {
			t.Fatal(err)
		}
		want[nsredis.PartitionOf(key, 4)]++
	}
	for i, part := range pb.Partitions() {
		s, err := part.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Stream != nsredis.PartitionStream("routing", i, 4) || s.Length != want[i] {
			t.Errorf("partition %d: %s holds %d, want %s holding %d", i, s.Stream, s.Length, nsredis.PartitionStream("routing", i, 4), want[i])
		}
	}
}

// Chains of 16 keys on 16 partitions of a cluster of three masters: the
// harness records the same chains as in process, each in its seed's
// partition; and an event an organ emits keyed to another partition
// reaches that partition once, through the outbox.
func TestPartitionedChainsOnACluster(t *testing.T) {
	ctx := ctxT(t)
	organs := func(strays bool) []core.Organ {
		step := func(name, from, to string) core.Organ {
			return core.OrganFunc(name, []string{from}, func(_ context.Context, e core.Event) ([]core.Event, error) {
				return core.Emit(core.MustEvent(to, map[string]string{"from": e.ID()})), nil
			})
		}
		last := core.OrganFunc("Last", []string{"C"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
			if !strays || e.Key() != "order-3" {
				return nil, nil
			}
			// order-3's chain emits an event for order-4, of another partition.
			other, err := core.Build(core.EventInit{Type: "D", Key: "order-4"})
			return core.Emit(other), err
		})
		sink := core.OrganFunc("Sink", []string{"D"}, func(context.Context, core.Event) ([]core.Event, error) { return nil, nil })
		return []core.Organ{step("First", "A", "B"), step("Second", "B", "C"), last, sink}
	}
	seeds := func() []core.Event {
		var out []core.Event
		for i := range 16 {
			e, err := core.Build(core.EventInit{Type: "A", Key: fmt.Sprint("order-", i), Payload: map[string]int{"n": i}})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
		return out
	}
	if nsredis.PartitionOf("order-3", 16) == nsredis.PartitionOf("order-4", 16) {
		t.Fatal("order-3 and order-4 share a partition: the test needs two")
	}
	want, err := necrotest.RunWith(ctx, necrotest.Config{Logger: discard()}, organs(false), seeds()...)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redistest.StartCluster(t, 3, 0).Client()

	pb := newPartitioned(t, nsredis.Config{Client: rdb, Stream: "chains"}, 16)
	tr, err := necrotest.RunWith(ctx, necrotest.Config{Backend: pb, Concurrency: 4, Logger: discard()}, organs(false), seeds()...)
	if err != nil {
		t.Fatalf("RunWith: %v\n%s", err, tr)
	}
	if got := tr.Canonical(); got != want.Canonical() {
		t.Errorf("over 16 partitions:\n%s\nin process:\n%s", got, want.Canonical())
	}
	for i, part := range pb.Partitions() {
		s, err := part.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var events int
		for _, r := range tr.Records {
			if nsredis.PartitionOf(r.Event.Key(), 16) == i {
				events++
			}
		}
		if s.Length != int64(events) || s.Groups[0].Pending != 0 || s.Groups[0].Lag != 0 {
			t.Errorf("partition %d: %d entries, %+v; want %d (its keys' events), nothing pending or unread", i, s.Length, s.Groups, events)
		}
	}

	strays := newPartitioned(t, nsredis.Config{Client: rdb, Stream: "strays"}, 16)
	tr, err = necrotest.RunWith(ctx, necrotest.Config{Backend: strays, Logger: discard()}, organs(true), seeds()...)
	if err != nil {
		t.Fatalf("RunWith: %v\n%s", err, tr)
	}
	// order-3's emit for order-4 went through its partition's outbox to
	// order-4's partition, once.
	if len(tr.DeadLetters) != 0 {
		t.Errorf("dead letters: %+v", tr.DeadLetters)
	}
	tr.AssertCount(t, "D", 1)
	// The run may end idle before the relay's writes land (it finds the
	// streams empty while D is in the outbox): wait for them, up to 10 s.
	dst := strays.Partitions()[nsredis.PartitionOf("order-4", 16)]
	src := strays.Partitions()[nsredis.PartitionOf("order-3", 16)].Config().Stream
	var ds int
	var outboxed int64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		msgs, err := rdb.XRange(ctx, dst.Config().Stream, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		ds = 0
		for _, m := range msgs {
			if e, err := core.DecodeEventString(m.Values["event"].(string)); err == nil && e.Type() == "D" {
				ds++
			}
		}
		if outboxed, err = rdb.XLen(ctx, src+":outbox").Result(); err != nil {
			t.Fatal(err)
		}
		if (ds > 0 && outboxed == 0) || time.Now().After(deadline) {
			break
		}
	}
	if ds != 1 {
		t.Errorf("order-4's partition holds %d D events, want 1", ds)
	}
	if outboxed != 0 {
		t.Errorf("order-3's outbox holds %d entries, want 0 once relayed", outboxed)
	}
}

// Close hands back what the readers held: a second backend on the same
// partitions handles every event, none pending with the first consumer.
func TestPartitionedCloseHandsBack(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	first, err := nsredis.NewPartitioned(ctx, nsredis.Config{URL: srv.URL(), Stream: "handback", Consumer: "first", Block: 100 * time.Millisecond, Logger: discard()}, 4)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := first.Enqueue(ctx, core.MustEvent("E", map[string]int{"i": i})); err != nil {
			t.Fatal(err)
		}
	}
	d, ok, err := first.Pull(ctx, 5*time.Second)
	if err != nil || !ok {
		t.Fatalf("Pull: %v, %v", ok, err)
	}
	if err := first.Ack(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	second := newPartitioned(t, nsredis.Config{URL: srv.URL(), Stream: "handback", Consumer: "second"}, 4)
	seen := map[string]bool{d.Event.ID(): true}
	for len(seen) < 40 {
		d, ok, err := second.Pull(ctx, 5*time.Second)
		if err != nil || !ok {
			t.Fatalf("after %d events: Pull: %v, %v", len(seen), ok, err)
		}
		if seen[d.Event.ID()] {
			t.Fatalf("%s handled twice", d.Event)
		}
		seen[d.Event.ID()] = true
		if err := second.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	settled(t, second.Partitions())
}

// The edges: a 1 ms Block still reads; a keyless dead letter goes to
// partition 0; CommitBatch leaves the caller's commits as they were; a
// stream with a brace is refused; Close of a nil one is safe.
func TestPartitionedEdges(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	pb := newPartitioned(t, nsredis.Config{URL: srv.URL(), Stream: "edges", Block: time.Millisecond}, 3)
	for range 6 {
		if err := pb.Enqueue(ctx, core.MustEvent("E", nil)); err != nil {
			t.Fatal(err)
		}
	}
	var commits []core.Commit
	for i := range 6 {
		d, ok, err := pb.Pull(ctx, 5*time.Second)
		if err != nil || !ok {
			t.Fatalf("Pull #%d with a 1 ms Block: %v, %v", i, ok, err)
		}
		commits = append(commits, core.Commit{Delivery: d})
	}
	before := make([]string, len(commits))
	for i, c := range commits {
		before[i] = c.Delivery.Receipt
	}
	if errs := pb.CommitBatch(ctx, commits); errs != nil {
		t.Fatalf("CommitBatch: %v", errs)
	}
	for i, c := range commits {
		if c.Delivery.Receipt != before[i] {
			t.Errorf("CommitBatch changed commit #%d's receipt from %q to %q", i, before[i], c.Delivery.Receipt)
		}
	}
	dl := core.DeadLetter{Event: core.MustEvent("E", nil), Reason: core.ReasonUnroutable, Error: "no organ"}
	if err := pb.DeadLetter(ctx, dl); err != nil {
		t.Fatal(err)
	}
	if n, err := pb.Partitions()[0].DeadLetterCount(ctx); err != nil || n != 1 {
		t.Errorf("a keyless dead letter: %d in partition 0 (%v), want 1", n, err)
	}
	for _, stream := range []string{"{edges}", "a}b"} {
		if _, err := nsredis.NewPartitioned(ctx, nsredis.Config{URL: srv.URL(), Stream: stream, Logger: discard()}, 2); err == nil || !strings.Contains(err.Error(), "holds a brace") {
			t.Errorf("Stream %q with partitions: %v", stream, err)
		}
	}
	var none *nsredis.Partitioned
	if err := none.Close(); err != nil {
		t.Errorf("Close of a nil *Partitioned: %v", err)
	}
}

// A partition whose node is down does not hold the others back: its
// reader backs off on its own, no Pull returns an error, and every event
// of the partitions on the live masters is delivered.
func TestPartitionedOnePartitionDown(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0, "--cluster-require-full-coverage", "no")
	ctx := ctxT(t)
	rdb := c.Client()
	logs := &logRecorder{}
	pb := newPartitioned(t, nsredis.Config{Client: rdb, Stream: "down", Logger: slog.New(logs)}, 6)
	dead := map[int]bool{}
	for i := range 6 {
		m, err := rdb.MasterForKey(ctx, nsredis.PartitionStream("down", i, 6))
		if err != nil {
			t.Fatal(err)
		}
		dead[i] = m.Options().Addr == c.Masters[0].Addr()
	}
	var live []string // keys of partitions on the masters that stay
	for k := 0; len(live) < 30; k++ {
		if key := fmt.Sprint("key-", k); !dead[nsredis.PartitionOf(key, 6)] {
			live = append(live, key)
		}
	}
	onDead := 0
	for _, d := range dead {
		if d {
			onDead++
		}
	}
	if onDead == 0 {
		t.Fatal("no partition on the master to be killed")
	}
	// A first pull starts the readers of every partition, the dead ones too.
	if _, ok, err := pb.Pull(ctx, 300*time.Millisecond); ok || err != nil {
		t.Fatalf("the first Pull of an empty stream: %v, %v", ok, err)
	}
	c.Masters[0].Kill()
	for _, key := range live {
		e, err := core.Build(core.EventInit{Type: "E", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if err := pb.Enqueue(ctx, e); err != nil {
			t.Fatalf("Enqueue to a live partition: %v", err)
		}
	}
	for got := 0; got < len(live); {
		d, ok, err := pb.Pull(ctx, 10*time.Second)
		if err != nil || !ok {
			t.Fatalf("after %d of %d events: Pull: %v, %v", got, len(live), ok, err)
		}
		if err := pb.Ack(ctx, d); err != nil {
			t.Fatal(err)
		}
		got++
	}
	// The dead partitions' readers notice within a read's Block+Timeout.
	deadline := time.Now().Add(15 * time.Second)
	for len(logs.lines(slog.LevelWarn, "partition unreachable")) < onDead {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d dead partitions' readers said they back off", len(logs.lines(slog.LevelWarn, "partition unreachable")), onDead)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d, ok, err := pb.Pull(ctx, 300*time.Millisecond); ok || err != nil {
		t.Errorf("a Pull while partitions are down: %v, %v, %v; want none and no error", d, ok, err)
	}
	// Back, so that go-redis's pool stops redialling it (a goroutine that
	// would outlive the test otherwise).
	c.Masters[0].Start()
}
