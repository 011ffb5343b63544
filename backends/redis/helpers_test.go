package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

const stream = nsredis.DefaultStream

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func inspect(t *testing.T, addr string) *goredis.Client {
	rdb := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// clocked starts a miniredis whose clock the test moves (for idle times):
// the server, a client to inspect it, its time now, and its URL.
func clocked(t *testing.T) (*miniredis.Miniredis, *goredis.Client, time.Time, string) {
	t.Helper()
	mr := miniredis.RunT(t)
	now := time.Now()
	mr.SetTime(now)
	return mr, inspect(t, mr.Addr()), now, "redis://" + mr.Addr()
}

// readAs reads n new entries of the stream as consumer, through rdb (a worker
// that read them and died, or whose reply was lost), and returns their ids.
func readAs(t *testing.T, rdb *goredis.Client, consumer string, n int64) []string {
	t.Helper()
	res, err := rdb.XReadGroup(ctxT(t), &goredis.XReadGroupArgs{Group: nsredis.DefaultGroup, Consumer: consumer,
		Streams: []string{stream, ">"}, Count: n}).Result()
	if err != nil {
		t.Fatalf("XREADGROUP as %s: %v", consumer, err)
	}
	var ids []string
	for _, m := range res[0].Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

func mustPull(t *testing.T, b *nsredis.Backend) core.Delivery {
	t.Helper()
	d, ok, err := b.Pull(ctxT(t), 2*time.Second)
	if err != nil || !ok {
		t.Fatalf("Pull: ok=%v err=%v, want an event", ok, err)
	}
	return d
}

func mustEmpty(t *testing.T, b *nsredis.Backend) {
	t.Helper()
	d, ok, err := b.Pull(ctxT(t), 150*time.Millisecond)
	if err != nil || ok {
		t.Fatalf("Pull: got %v ok=%v err=%v, want nothing", d.Event, ok, err)
	}
}

func pendingCount(t *testing.T, rdb *goredis.Client) int64 {
	t.Helper()
	p, err := rdb.XPending(context.Background(), stream, nsredis.DefaultGroup).Result()
	if err != nil {
		t.Fatalf("XPENDING: %v", err)
	}
	return p.Count
}

func streamLen(t *testing.T, rdb *goredis.Client, key string) int64 {
	t.Helper()
	n, err := rdb.XLen(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("XLEN %s: %v", key, err)
	}
	return n
}

func ev(t *testing.T, typ string, n int) core.Event {
	t.Helper()
	e, err := core.NewEvent(typ, map[string]int{"n": n})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestMain checks that no test leaves a goroutine behind. One kind is given
// time: go-redis keeps a goroutine for each server its pool failed to dial,
// retrying every second (ConnPool.tryDial), and once the pool is closed it
// ends at its next wake-up, up to a second after the test that met a dead
// server. Everything else must be gone at once (within goleak's own short
// retries), and those within 5 s.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		err := goleak.Find(goleak.IgnoreAnyFunction(redisDialRetry))
		if err == nil {
			deadline := time.Now().Add(5 * time.Second)
			for err = goleak.Find(); err != nil && time.Now().Before(deadline); err = goleak.Find() {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// redisDialRetry is go-redis's pool goroutine that retries a failed dial.
const redisDialRetry = "github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newBackend(t *testing.T, cfg nsredis.Config) *nsredis.Backend {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	if cfg.Block == 0 {
		cfg.Block = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := nsredis.New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// settled fails t unless every partition's group has nothing pending
// and nothing unread.
func settled(t *testing.T, parts []*nsredis.Backend) {
	t.Helper()
	for i, part := range parts {
		s, err := part.Stats(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if g := s.Groups[0]; g.Pending != 0 || g.Lag != 0 {
			t.Errorf("partition %d: %+v; want nothing pending or unread", i, g)
		}
	}
}
