package redistest_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/necrostack/necrostack/backends/redis/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func client(t *testing.T, addr string) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestProxy(t *testing.T) {
	srv := redistest.Start(t)
	p := redistest.StartProxy(t, srv.Addr())
	c, direct := client(t, p.Addr()), client(t, srv.Addr())
	ctx := context.Background()

	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through the proxy: %v", err)
	}
	if got := p.Replies("SET"); got != 1 {
		t.Errorf("SET replies delivered: %d, want 1", got)
	}

	// A cut reply: the server ran the command, the client lost the answer.
	p.CutReply(redistest.Command("incr"), 1)
	if err := c.Incr(ctx, "n").Err(); err == nil {
		t.Fatal("INCR with its reply cut succeeded")
	}
	if n, err := direct.Get(ctx, "n").Int(); err != nil || n != 1 {
		t.Errorf("the server's n after the cut INCR: %d (%v), want 1", n, err)
	}
	if p.Cut() != 1 {
		t.Errorf("Cut = %d, want 1", p.Cut())
	}
	if err := c.Incr(ctx, "n").Err(); err != nil {
		t.Errorf("INCR after the cut, on a new connection: %v", err)
	}

	// A reset: a pooled connection fails once, the next dial works.
	p.ResetAll()
	var err error
	for range 2 {
		if err = c.Ping(ctx).Err(); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("PING after a reset and a retry: %v", err)
	}

	// A black hole: no answer until the deadline, the socket stays open;
	// once healed, a new connection works.
	p.BlackHole()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = c.Ping(short).Err()
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("PING into a black hole: %v, want a deadline error", err)
	}
	p.Heal()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Errorf("PING after the black hole healed: %v", err)
	}

	// A stall: a command the client gave up on still reaches the server
	// once the link resumes.
	p.Stall()
	short, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	err = c.Incr(short, "late").Err()
	cancel()
	if err == nil {
		t.Error("INCR on a stalled link succeeded")
	}
	p.Resume()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := direct.Get(ctx, "late").Int(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the INCR held by the stall never reached the server")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Latency applies to each direction.
	p.SetLatency(50 * time.Millisecond)
	start := time.Now()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("PING with 50ms latency each way took %v", d)
	}
}
