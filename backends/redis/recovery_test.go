package redis_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
)

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
