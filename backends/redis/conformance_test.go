package redis_test

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

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

func readsUnderWay(b core.Backend) int { return nsredis.ReadsUnderWay(b.(*nsredis.Backend)) }

func TestConformanceMiniredis(t *testing.T) {
	necrotest.TestBackend(t, necrotest.BackendSuite{
		New: func(t *testing.T) core.Backend {
			return newBackend(t, nsredis.Config{URL: "redis://" + miniredis.RunT(t).Addr()})
		},
		DeadLetters: listDeadLetters,
		Waiting:     readsUnderWay,
	})
}

func TestConformanceMiniredisStreamMode(t *testing.T) {
	necrotest.TestBackend(t, necrotest.BackendSuite{
		New: func(t *testing.T) core.Backend {
			return newBackend(t, nsredis.Config{URL: "redis://" + miniredis.RunT(t).Addr(), Mode: nsredis.ModeStream})
		},
		DeadLetters: listDeadLetters,
		Waiting:     readsUnderWay,
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
		Waiting:     readsUnderWay,
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
		Waiting:     readsUnderWay,
	})
	// Close left the user's client open.
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Errorf("user client after Close: %v", err)
	}
}

// The backend passes the conformance suite on a Redis Cluster of three
// masters, through go-redis's cluster client, with its keys under one hash
// tag per stream (each subtest's stream in a slot of its own).
func TestConformanceCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	rdb := c.Client()
	necrotest.TestBackend(t, necrotest.BackendSuite{
		New: func(t *testing.T) core.Backend {
			return newBackend(t, nsredis.Config{Client: rdb, Stream: "{" + t.Name() + "}:events"})
		},
		DeadLetters: listDeadLetters,
		Waiting:     readsUnderWay,
	})
}
