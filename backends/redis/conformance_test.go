package redis_test

import (
	"context"
	"strings"
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

// A URL with cluster=true reaches a cluster through go-redis's cluster
// client, from any one node (the others found from it) or several; bad
// cluster URLs are refused with the reason and without the password.
func TestClusterURL(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	addrs := c.Addrs()
	for _, url := range []string{
		"redis://" + addrs[1] + "?cluster=true",
		"redis://" + addrs[0] + "/0?cluster=true&addr=" + addrs[1] + "&addr=" + addrs[2],
	} {
		if err := nsredis.CheckURL(url); err != nil {
			t.Errorf("CheckURL(%s): %v", url, err)
		}
		// Sixteen partitions' streams over three masters: only a cluster
		// client reaches them all.
		pb := newPartitioned(t, nsredis.Config{URL: url, Stream: "cluster-url"}, 16)
		for i := range 32 {
			if err := pb.Enqueue(ctxT(t), core.MustEvent("VIA_URL", map[string]int{"i": i})); err != nil {
				t.Fatalf("%s: Enqueue: %v", url, err)
			}
		}
		if _, ok := pb.Partitions()[0].Client().(*goredis.ClusterClient); !ok {
			t.Errorf("%s: client %T, want a cluster client", url, pb.Partitions()[0].Client())
		}
	}
	for url, want := range map[string]string{
		"redis://u:s3cret@" + addrs[0] + "?cluster=true&bogus=1": "unexpected option: bogus",
		"redis://" + addrs[0] + "?cluster=true&max_retries=3":    "max_retries",
	} {
		err := nsredis.CheckURL(url)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckURL(%s) = %v, want an error saying %q, without the password", url, err, want)
		}
	}
}
