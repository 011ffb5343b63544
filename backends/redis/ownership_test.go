package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

func TestReclaimAndMaxDeliveries(t *testing.T) {
	mr, rdb, now, url := clocked(t)
	cfg := func(name string) nsredis.Config {
		return nsredis.Config{URL: url, Consumer: name, ClaimMinIdle: time.Minute, ClaimInterval: time.Millisecond, MaxDeliveries: 2}
	}
	a, b, c := newBackend(t, cfg("a")), newBackend(t, cfg("b")), newBackend(t, cfg("c"))
	ctx := ctxT(t)
	poison := ev(t, "POISON", 0)
	_ = a.Enqueue(ctx, poison)

	if d := mustPull(t, a); d.Attempt != 1 {
		t.Fatalf("first delivery attempt = %d", d.Attempt)
	}
	mustEmpty(t, b) // not idle long enough to reclaim
	mr.SetTime(now.Add(2 * time.Minute))
	if d := mustPull(t, b); d.Event.ID() != poison.ID() || d.Attempt != 2 {
		t.Fatalf("reclaim by b: %s attempt %d", d.Event, d.Attempt)
	}
	mr.SetTime(now.Add(4 * time.Minute))
	mustEmpty(t, c) // delivered twice already: dead-lettered, not delivered
	if p := pendingCount(t, rdb); p != 0 {
		t.Errorf("pending after dead-lettering: %d, want 0", p)
	}
	dls, err := c.DeadLetters(ctx, "", 10)
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters: %v %v", dls, err)
	}
	dl := dls[0]
	if dl.Reason != nsredis.ReasonMaxDeliveries || dl.Attempts != 2 || !dl.Event.Equal(poison) || dl.EntryID == "" {
		t.Errorf("dead letter: %+v", dl)
	}
}

// A consumer never reclaims what it holds itself (a slow handler is not a dead
// worker); another consumer does.
func TestReclaimSkipsOwnHeldEntries(t *testing.T) {
	mr, _, now, url := clocked(t)
	cfg := func(name string) nsredis.Config {
		return nsredis.Config{URL: url, Consumer: name, ClaimMinIdle: time.Minute, ClaimInterval: time.Millisecond, MaxDeliveries: 2}
	}
	a, b := newBackend(t, cfg("a")), newBackend(t, cfg("b"))
	ctx := ctxT(t)
	_ = a.Enqueue(ctx, ev(t, "SLOW", 0))
	_ = a.Enqueue(ctx, ev(t, "BUFFERED", 1))
	held := mustPull(t, a) // BUFFERED waits in a's buffer
	mr.SetTime(now.Add(5 * time.Minute))
	if d := mustPull(t, a); d.Event.Type() != "BUFFERED" || d.Attempt != 1 {
		t.Fatalf("a's next pull: %s attempt %d, want its buffered event, first delivery", d.Event, d.Attempt)
	}
	mustEmpty(t, a) // nothing of its own reclaimed, nothing dead-lettered
	if n, _ := a.DeadLetterCount(ctx); n != 0 {
		t.Fatalf("dead letters: %d", n)
	}
	if d := mustPull(t, b); d.Event.ID() != held.Event.ID() && d.Event.Type() != "BUFFERED" {
		t.Fatalf("b reclaimed %s", d.Event)
	}
}

// A consumer claims no more stuck entries at a time than it would read, so
// that the rest stay for the other consumers; as long as it finds more, it
// looks again as soon as it has handed them out, not a ClaimInterval later.
func TestReclaimClaimsNoMoreThanItReads(t *testing.T) {
	mr, rdb, now, url := clocked(t)
	b := newBackend(t, nsredis.Config{URL: url, Consumer: "b", ClaimMinIdle: time.Minute, ClaimInterval: time.Hour})
	ctx := ctxT(t)
	for i := range 40 {
		_ = b.Enqueue(ctx, ev(t, "E", i))
	}
	// A consumer that read all forty, then died.
	readAs(t, rdb, "dead", 40)
	mr.SetTime(now.Add(2 * time.Minute))
	seen := map[string]bool{mustPull(t, b).Event.ID(): true}
	p, err := rdb.XPending(ctx, stream, nsredis.DefaultGroup).Result()
	if err != nil {
		t.Fatal(err)
	}
	if p.Consumers["b"] != 8 || p.Consumers["dead"] != 32 {
		t.Errorf("pending after one reclaim: %v, want b 8 (its first read count), dead 32", p.Consumers)
	}
	for i := 1; i < 40; i++ {
		d := mustPull(t, b)
		if d.Attempt != 2 || seen[d.Event.ID()] {
			t.Fatalf("pull %d: %s attempt %d, want another reclaimed entry", i, d.Event, d.Attempt)
		}
		seen[d.Event.ID()] = true
	}
	if p, _ := rdb.XPending(ctx, stream, nsredis.DefaultGroup).Result(); p.Consumers["b"] != 40 || p.Consumers["dead"] != 0 {
		t.Errorf("pending after forty pulls: %v, want all forty moved to b", p.Consumers)
	}
}

// A worker started under the consumer name of one that left entries
// pending takes them back at once, not after ClaimMinIdle.
func TestNewConsumerTakesBackItsOwnPendingEntries(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := inspect(t, mr.Addr())
	url := "redis://" + mr.Addr()
	first := newBackend(t, nsredis.Config{URL: url, Consumer: "w"})
	ctx := ctxT(t)
	var want []string
	for i := range 3 {
		e := ev(t, "E", i)
		want = append(want, e.ID())
		_ = first.Enqueue(ctx, e)
	}
	// The previous process read them and died (a plain client stands in).
	readAs(t, rdb, "w", 3)
	_ = first.Enqueue(ctx, ev(t, "NEW", 3))

	restarted := newBackend(t, nsredis.Config{URL: url, Consumer: "w", ClaimMinIdle: time.Hour})
	var got []string
	for range 3 {
		d := mustPull(t, restarted)
		if d.Attempt != 2 {
			t.Errorf("%s: attempt %d, want 2 (delivered once before)", d.Event, d.Attempt)
		}
		got = append(got, d.Event.ID())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("first pulls: %v, want the three pending entries %v", got, want)
	}
	if d := mustPull(t, restarted); d.Event.Type() != "NEW" || d.Attempt != 1 {
		t.Errorf("then: %s attempt %d, want the new entry", d.Event, d.Attempt)
	}
}

// A read whose reply is lost when Redis dies leaves entries pending for a
// consumer that never received them. After the failed read the consumer
// takes them back as soon as Redis is back, not after ClaimMinIdle.
func TestRealRedisTakesBackEntriesOfALostRead(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	rdb := inspect(t, srv.Addr())
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "w", ClaimMinIdle: time.Hour, Block: 200 * time.Millisecond})
	ctx := ctxT(t)
	if err := b.Enqueue(ctx, ev(t, "E", 0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, mustPull(t, b), core.Outcome{}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 1; i <= 3; i++ {
		e := ev(t, "E", i)
		want = append(want, e.ID())
		if err := b.Enqueue(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// What Redis did for a read whose reply never reached the consumer.
	readAs(t, rdb, "w", 3)
	srv.Kill()
	if _, _, err := b.Pull(ctx, time.Second); err == nil {
		t.Fatal("Pull with Redis down returned no error")
	}
	srv.Start()
	var got []string
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		d, ok, _ := b.Pull(ctx, 500*time.Millisecond)
		if ok {
			got = append(got, d.Event.ID())
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the restart: got %v, want the three entries of the lost read %v", got, want)
	}
}

// afterCmd is a go-redis hook that runs fn once, right after the first
// command match accepts has been answered (fn may turn the answer into an
// error, as a connection lost before the reply would).
type afterCmd struct {
	match func(args []any) bool
	fn    func(cmd goredis.Cmder)
	armed atomic.Bool
}

func (h *afterCmd) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *afterCmd) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		err := next(ctx, cmd)
		if h.match(cmd.Args()) && h.armed.CompareAndSwap(true, false) {
			h.fn(cmd)
			return cmd.Err()
		}
		return err
	}
}

func (h *afterCmd) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return next
}

func hookedClient(t *testing.T, addr string, h *afterCmd) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	c.AddHook(h)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func isCommand(args []any, name string) bool {
	s, _ := args[0].(string)
	return strings.EqualFold(s, name)
}

// A consumer taking back its own pending entries leaves alone one that
// another consumer reclaimed after it listed them: only one of the two
// hands it out.
func TestTakeBackLeavesWhatAnotherConsumerReclaimed(t *testing.T) {
	mr, rdb, now, _ := clocked(t)
	ctx := ctxT(t)
	if err := rdb.XGroupCreateMkStream(ctx, stream, nsredis.DefaultGroup, "0").Err(); err != nil {
		t.Fatal(err)
	}
	wire, _ := ev(t, "E", 0).MarshalJSON()
	if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"event", wire}}).Err(); err != nil {
		t.Fatal(err)
	}
	// "w" read it and lost the reply (or died), long ago.
	readAs(t, rdb, "w", 1)
	mr.SetTime(now.Add(2 * time.Minute))
	var other []goredis.XMessage
	h := &afterCmd{
		// w's listing of its own pending entries...
		match: func(args []any) bool { return isCommand(args, "xpending") && args[len(args)-1] == "w" },
		// ...is followed at once by another consumer's reclaim.
		fn: func(goredis.Cmder) {
			ids, _ := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: stream, Group: nsredis.DefaultGroup,
				Idle: time.Minute, Start: "-", End: "+", Count: 10}).Result()
			if len(ids) == 1 {
				other, _ = rdb.XClaim(ctx, &goredis.XClaimArgs{Stream: stream, Group: nsredis.DefaultGroup, Consumer: "other",
					MinIdle: time.Minute, Messages: []string{ids[0].ID}}).Result()
			}
		},
	}
	h.armed.Store(true)
	w := newBackend(t, nsredis.Config{Client: hookedClient(t, mr.Addr(), h), Consumer: "w", ClaimMinIdle: time.Hour})
	d, ok, err := w.Pull(ctx, 300*time.Millisecond)
	if len(other) != 1 {
		t.Fatalf("the other consumer's reclaim did not run (claimed %d)", len(other))
	}
	if ok || err != nil {
		t.Fatalf("w pulled %s (ok %v, err %v): the entry the other consumer reclaimed was handed out twice", d.Event, ok, err)
	}
	p, _ := rdb.XPending(ctx, stream, nsredis.DefaultGroup).Result()
	if p.Consumers["other"] != 1 || p.Consumers["w"] != 0 {
		t.Errorf("pending: %v, want the entry with other", p.Consumers)
	}
}

// Entries of a read whose reply was lost are taken back even when more than
// a page (Batch) of entries this consumer holds come before them.
func TestTakeBackLooksPastWhatTheConsumerHolds(t *testing.T) {
	mr, _, _, _ := clocked(t)
	ctx := ctxT(t)
	h := &afterCmd{
		match: func(args []any) bool { return isCommand(args, "xreadgroup") },
		fn:    func(cmd goredis.Cmder) { cmd.SetErr(errors.New("connection lost before the reply (test)")) },
	}
	w := newBackend(t, nsredis.Config{Client: hookedClient(t, mr.Addr(), h), Consumer: "w", Batch: 4, ClaimMinIdle: time.Hour})
	for i := range 7 {
		if err := w.Enqueue(ctx, ev(t, "E", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		mustPull(t, w) // held: handed out, not committed
	}
	h.armed.Store(true)
	if _, _, err := w.Pull(ctx, 300*time.Millisecond); err == nil {
		t.Fatal("Pull: no error from the read whose reply was lost")
	}
	for i := range 3 {
		d, ok, err := w.Pull(ctx, 300*time.Millisecond)
		if !ok || err != nil || d.Attempt != 2 {
			t.Fatalf("pull %d after the lost read: ok %v err %v attempt %d; want an entry of the lost read", i, ok, err, d.Attempt)
		}
	}
}
