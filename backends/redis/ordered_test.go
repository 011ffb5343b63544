package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func newOrdered(t *testing.T, cfg nsredis.Config, p int, ttl time.Duration) *nsredis.Ordered {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	if cfg.Block == 0 {
		cfg.Block = 100 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 500 * time.Millisecond
	}
	o, err := nsredis.NewOrdered(ctxT(t), cfg, p, nsredis.OrderedOptions{LeaseTTL: ttl})
	if err != nil {
		t.Fatalf("NewOrdered: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// batchKeys returns n keys, none of them key, of key's partition of p.
func batchKeys(key string, p, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		if k := fmt.Sprint("batch-", i); nsredis.PartitionOf(k, p) == nsredis.PartitionOf(key, p) {
			out = append(out, k)
		}
	}
	return out
}

func orderedDeadLetters(t *testing.T, b core.Backend) []core.DeadLetter {
	t.Helper()
	var out []core.DeadLetter
	for _, part := range b.(*nsredis.Ordered).Partitions() {
		out = append(out, listDeadLetters(t, part)...)
	}
	return out
}

// eventually polls cond every 10 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ordered mode passes the conformance suite with one and eight partitions
// on one server, and with eight on a cluster.
func TestConformanceOrdered(t *testing.T) {
	srv := redistest.Start(t)
	for _, p := range []int{1, 8} {
		t.Run(fmt.Sprintf("one server/P=%d", p), func(t *testing.T) {
			necrotest.TestBackend(t, necrotest.BackendSuite{
				New: func(t *testing.T) core.Backend {
					return newOrdered(t, nsredis.Config{URL: srv.URL(), Stream: "conformance:" + t.Name()}, p, time.Second)
				},
				DeadLetters: orderedDeadLetters,
				Key:         "conformance-key",
				BatchKeys:   batchKeys("conformance-key", p, 3),
			})
		})
	}
	t.Run("cluster/P=8", func(t *testing.T) {
		rdb := redistest.StartCluster(t, 3, 0).Client()
		necrotest.TestBackend(t, necrotest.BackendSuite{
			New: func(t *testing.T) core.Backend {
				return newOrdered(t, nsredis.Config{Client: rdb, Stream: "conformance:" + t.Name()}, 8, time.Second)
			},
			DeadLetters: orderedDeadLetters,
			Key:         "conformance-key",
			BatchKeys:   batchKeys("conformance-key", 8, 3),
		})
	})
}

// The rendezvous rule is stable: a table of owners other implementations
// can check themselves against.
func TestRendezvousOwnerIsStable(t *testing.T) {
	members := []string{"worker-a", "worker-b", "worker-c"}
	var got []string
	for i := range 8 {
		got = append(got, nsredis.RendezvousOwner(members, i))
	}
	want := []string{"worker-c", "worker-b", "worker-b", "worker-b", "worker-a", "worker-a", "worker-a", "worker-a"}
	if !slices.Equal(got, want) {
		t.Errorf("owners of partitions 0-7 among %v: %q, want %q", members, got, want)
	}
	// Over many partitions each member gets about its share.
	shares := map[string]int{}
	for i := range nsredis.MaxPartitions {
		shares[nsredis.RendezvousOwner(members, i)]++
	}
	for _, m := range members {
		if n := shares[m]; n < nsredis.MaxPartitions/3*85/100 || n > nsredis.MaxPartitions/3*115/100 {
			t.Errorf("%s owns %d of %d partitions, not about a third: %v", m, n, nsredis.MaxPartitions, shares)
		}
	}
	// A member that leaves moves only its own partitions.
	for i := range 8 {
		if was := got[i]; was != "worker-b" && nsredis.RendezvousOwner([]string{"worker-a", "worker-c"}, i) != was {
			t.Errorf("partition %d moved from %s when worker-b left", i, was)
		}
	}
	if nsredis.RendezvousOwner(nil, 0) != "" {
		t.Error("an owner among no members")
	}
}

// keyedEvent is event n of key k, numbered in its payload.
func keyedEvent(t *testing.T, typ, key string, n int) core.Event {
	t.Helper()
	e, err := core.Build(core.EventInit{Type: typ, Key: key, Payload: map[string]int{"n": n}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// seqOf reads the number keyedEvent put in e.
func seqOf(t *testing.T, e core.Event) int {
	var p struct{ N int }
	if err := e.DecodePayload(&p); err != nil {
		t.Errorf("decode %s: %v", e, err)
	}
	return p.N
}

// handled is the handlers' own record: per key, the numbers in the order
// handling began.
type handled struct {
	mu   sync.Mutex
	seqs map[string][]int
	by   map[string]int // handled events per worker
	n    int
}

func (h *handled) add(worker, key string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seqs == nil {
		h.seqs, h.by = map[string][]int{}, map[string]int{}
	}
	h.seqs[key] = append(h.seqs[key], n)
	h.by[worker]++
	h.n++
}

func (h *handled) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// checkOrder asserts every key's events were handled 0..n-1 in order, a
// redelivered event (at least once) again only right after itself.
func (h *handled) checkOrder(t *testing.T, keys, n int) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seqs) != keys {
		t.Errorf("%d keys handled, want %d", len(h.seqs), keys)
	}
	for k, seqs := range h.seqs {
		want := 0
		for _, s := range seqs {
			switch s {
			case want:
				want++
			case want - 1: // handled again: redelivered
			default:
				t.Errorf("key %s: handled %v: %d out of order", k, seqs, s)
				return
			}
		}
		if want != n {
			t.Errorf("key %s: handled %v, want 0..%d", k, seqs, n-1)
		}
	}
}

// runWorker runs a Spine with Concurrency c over b until ctx ends; the
// organ records each event and waits a little, longer for some keys.
func runWorker(ctx context.Context, t *testing.T, name string, b core.Backend, c int, rec *handled) <-chan error {
	organ := core.OrganFunc("Record", []string{"STEP"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		n := seqOf(t, e)
		rec.add(name, e.Key(), n)
		if n%7 == 3 {
			select { // a slow call, holding back its own key only
			case <-time.After(3 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		return nil, nil
	})
	sp, err := core.NewSpine(b, []core.Organ{organ}, core.Config{Concurrency: c, Logger: discard(), PullTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	return done
}

// Two workers at Concurrency 8 on 8 partitions: every key's 20 events are
// handled in enqueue order, while the second worker joins and then leaves
// mid-run, and both share the partitions as rendezvous says meanwhile.
func TestOrderedKeyOrderAcrossWorkers(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	const keys, per = 60, 20
	cfg := nsredis.Config{URL: srv.URL(), Stream: "ordered", Consumer: "worker-a"}
	a := newOrdered(t, cfg, 8, time.Second)
	cfg.Consumer = "worker-b"
	b := newOrdered(t, cfg, 8, time.Second)
	var rec handled
	actx, stopA := context.WithCancel(ctx)
	defer stopA()
	doneA := runWorker(actx, t, "worker-a", a, 8, &rec)
	enqueue := func(from, to int) {
		for n := from; n < to; n++ {
			for k := range keys {
				if err := a.Enqueue(ctx, keyedEvent(t, "STEP", "key-"+strconv.Itoa(k), n)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	enqueue(0, 5)
	eventually(t, 10*time.Second, "worker-a owns every partition", func() bool { return len(a.Owned()) == 8 })

	bctx, stopB := context.WithCancel(ctx)
	doneB := runWorker(bctx, t, "worker-b", b, 8, &rec)
	eventually(t, 10*time.Second, "the two share the partitions as rendezvous says", func() bool {
		owned := append(a.Owned(), b.Owned()...)
		slices.Sort(owned)
		if !slices.Equal(owned, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
			return false
		}
		for _, i := range b.Owned() {
			if nsredis.RendezvousOwner([]string{"worker-a", "worker-b"}, i) != "worker-b" {
				return false
			}
		}
		return len(b.Owned()) > 0
	})
	enqueue(5, 12)
	eventually(t, 10*time.Second, "worker-b handles events", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.by["worker-b"] > 0
	})
	stopB()
	if err := <-doneB; err != nil {
		t.Fatalf("worker-b: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("worker-b Close: %v", err)
	}
	enqueue(12, per)
	eventually(t, 20*time.Second, "every event handled", func() bool { return rec.count() >= keys*per })
	eventually(t, 10*time.Second, "worker-a owns every partition again", func() bool { return len(a.Owned()) == 8 })
	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("worker-a: %v", err)
	}
	rec.checkOrder(t, keys, per)
	settled(t, a.Partitions())
	t.Logf("handled %d events: %v", rec.count(), rec.by)
}

// A worker that dies holding partitions, with entries read and not
// committed: once its lease runs out another worker takes the partitions
// over, claims what was pending first and hands out every key in order.
func TestOrderedDeadOwnerTakenOver(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	cfg := nsredis.Config{URL: srv.URL(), Stream: "takeover", Consumer: "dies"}
	dies := newOrdered(t, cfg, 2, time.Second)
	for n := range 5 {
		for _, k := range []string{"k1", "k2", "k3"} {
			if err := dies.Enqueue(ctx, keyedEvent(t, "STEP", k, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// It reads and begins the first event of each key, and dies.
	var begun []core.Delivery
	for range 3 {
		d, ok, err := dies.Pull(ctx, 5*time.Second)
		if err != nil || !ok {
			t.Fatalf("Pull: %v, %v", ok, err)
		}
		if seqOf(t, d.Event) != 0 {
			t.Fatalf("first pulled %s, not its key's first", d.Event)
		}
		begun = append(begun, d)
	}
	if d, ok, _ := dies.Pull(ctx, 200*time.Millisecond); ok {
		t.Fatalf("pulled %s while its key's first event is in flight", d.Event)
	}
	nsredis.Abandon(dies)

	cfg.Consumer = "lives"
	lives := newOrdered(t, cfg, 2, time.Second)
	start := time.Now()
	var rec handled
	for rec.count() < 15 {
		d, ok, err := lives.Pull(ctx, 5*time.Second)
		if err != nil || !ok {
			t.Fatalf("Pull after %d: %v, %v", rec.count(), ok, err)
		}
		n := seqOf(t, d.Event)
		rec.add("lives", d.Event.Key(), n)
		if n == 0 && d.Attempt != 2 {
			t.Errorf("%s claimed with attempt %d, want 2", d.Event, d.Attempt)
		}
		if err := lives.Commit(ctx, d, core.Outcome{}); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}
	t.Logf("taken over and drained in %v", time.Since(start))
	rec.checkOrder(t, 3, 5)
	// The dead worker's commits write nothing: the partitions are fenced.
	for _, d := range begun {
		if err := dies.Partitions()[0].Commit(ctx, d, core.Outcome{}); err == nil {
			t.Errorf("a stale commit without the token went through")
		}
	}
}

// A worker whose partition was taken over while it held a delivery (it
// was paused past its lease): its commit writes nothing, it gives the
// partition up, and when the partition is free again it acquires it under
// a new token and claims the delivery back.
func TestOrderedFencedCommitWritesNothing(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	o := newOrdered(t, nsredis.Config{URL: srv.URL(), Stream: "fenced", Consumer: "paused"}, 1, time.Second)
	if err := o.Enqueue(ctx, keyedEvent(t, "STEP", "k", 0)); err != nil {
		t.Fatal(err)
	}
	d, ok, err := o.Pull(ctx, 5*time.Second)
	if err != nil || !ok {
		t.Fatalf("Pull: %v, %v", ok, err)
	}
	rdb := inspect(t, srv.Addr())
	owner := "fenced:owner"
	tok, err := rdb.HGet(ctx, owner, "token").Int64()
	if err != nil {
		t.Fatal(err)
	}
	// Another worker takes the partition over.
	if err := rdb.HSet(ctx, owner, "owner", "usurper", "token", tok+1, "until", time.Now().Add(time.Hour).UnixMilli()).Err(); err != nil {
		t.Fatal(err)
	}
	child := keyedEvent(t, "CHILD", "k", 1)
	err = o.Commit(ctx, d, core.Outcome{Emitted: []core.Event{child}})
	if !errors.Is(err, core.ErrDeliveryLost) {
		t.Fatalf("fenced commit: %v, want ErrDeliveryLost", err)
	}
	if n := streamLen(t, rdb, "fenced"); n != 1 {
		t.Errorf("stream holds %d entries after the fenced commit, want 1", n)
	}
	eventually(t, 5*time.Second, "the worker gives the partition up", func() bool { return len(o.Owned()) == 0 })
	// The usurper goes; the worker acquires anew and claims the delivery.
	if err := rdb.HSet(ctx, owner, "owner", "", "until", 0).Err(); err != nil {
		t.Fatal(err)
	}
	again, ok, err := o.Pull(ctx, 5*time.Second)
	if err != nil || !ok {
		t.Fatalf("Pull after re-acquiring: %v, %v", ok, err)
	}
	if again.Event.ID() != d.Event.ID() || again.Attempt != 2 || again.Receipt == d.Receipt {
		t.Errorf("after re-acquiring: %s attempt %d receipt %s; want %s attempt 2 under a new token (was %s)",
			again.Event, again.Attempt, again.Receipt, d.Event, d.Receipt)
	}
	if err := o.Commit(ctx, again, core.Outcome{Emitted: []core.Event{child}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n := streamLen(t, rdb, "fenced"); n != 2 {
		t.Errorf("stream holds %d entries, want 2", n)
	}
	if got, _ := rdb.HGet(ctx, owner, "token").Int64(); got != tok+2 {
		t.Errorf("token %d, want %d", got, tok+2)
	}
}

// An ACL that refuses what ordered mode needs beyond a stream (here ZADD,
// for membership) is fatal: Pull returns the error, naming it, instead of
// the worker retrying for ever.
func TestOrderedRefusedACLIsFatal(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	admin := inspect(t, srv.Addr())
	if err := admin.Do(ctx, "ACL", "SETUSER", "streams", "on", ">pw", "~*", "&*", "+@all", "-zadd").Err(); err != nil {
		t.Fatal(err)
	}
	o := newOrdered(t, nsredis.Config{URL: "redis://streams:pw@" + srv.Addr(), Stream: "acl"}, 2, time.Second)
	_, _, err := o.Pull(ctx, 5*time.Second)
	if !errors.Is(err, core.ErrFatal) || !strings.Contains(strings.ToLower(err.Error()), "zadd") {
		t.Fatalf("Pull: %v, want a fatal error naming ZADD", err)
	}
}
