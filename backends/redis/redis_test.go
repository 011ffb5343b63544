package redis_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

func listDeadLetters(t *testing.T, b core.Backend) []core.DeadLetter {
	t.Helper()
	dls, err := b.(*nsredis.Backend).DeadLetters(context.Background(), "", 1000)
	if err != nil {
		t.Fatalf("DeadLetters: %v", err)
	}
	out := make([]core.DeadLetter, len(dls))
	for i, dl := range dls {
		out[i] = dl.DeadLetter
	}
	return out
}

func TestConformanceMiniredis(t *testing.T) {
	necrotest.TestBackend(t, necrotest.BackendSuite{
		New: func(t *testing.T) core.Backend {
			return newBackend(t, nsredis.Config{URL: "redis://" + miniredis.RunT(t).Addr()})
		},
		DeadLetters: listDeadLetters,
	})
}

func TestConformanceMiniredisStreamMode(t *testing.T) {
	necrotest.TestBackend(t, necrotest.BackendSuite{
		New: func(t *testing.T) core.Backend {
			return newBackend(t, nsredis.Config{URL: "redis://" + miniredis.RunT(t).Addr(), Mode: nsredis.ModeStream})
		},
		DeadLetters: listDeadLetters,
	})
}

func TestConformanceRealRedis(t *testing.T) {
	srv := redistest.Start(t)
	t.Logf("running against %s", srv)
	necrotest.TestBackend(t, necrotest.BackendSuite{
		New: func(t *testing.T) core.Backend {
			// A fresh stream per subtest on the one server.
			return newBackend(t, nsredis.Config{URL: srv.URL(), Stream: "conformance:" + t.Name()})
		},
		DeadLetters: listDeadLetters,
	})
}

func TestConformanceWithUserClient(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	necrotest.TestBackend(t, necrotest.BackendSuite{
		New: func(t *testing.T) core.Backend {
			mr.FlushAll()
			return newBackend(t, nsredis.Config{Client: rdb})
		},
		DeadLetters: listDeadLetters,
	})
	// Close left the user's client open.
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Errorf("user client after Close: %v", err)
	}
}
