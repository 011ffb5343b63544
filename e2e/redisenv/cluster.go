package redisenv

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/backends/redis/redistest"
)

// Cluster is a Redis Cluster for one test: masters holding the 16,384
// slots in equal ranges and replicas of each, every node a Redis of this
// environment's kind (a container in the host's network, or a
// redis-server process) on its own loopback port, announcing 127.0.0.1,
// with its cluster bus on another. A test kills and restarts nodes
// through their Redis; a killed master's replica takes over after
// redistest.NodeTimeout.
type Cluster struct {
	t        testing.TB
	Masters  []*Redis
	Replicas []*Redis // replicasEach of each master, in master order
}

// StartCluster starts the cluster's nodes without persistence, forms the
// cluster, and waits until every node says it is ok and every replica is
// in sync. It skips or fails t as Start does.
func StartCluster(t testing.TB, masters, replicasEach int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	var mNodes, rNodes []redistest.Node
	node := func() (*Redis, redistest.Node) {
		bus, err := freePort()
		if err != nil {
			t.Fatalf("redisenv: pick a free port: %v", err)
		}
		r := Start(t, Config{NoPersistence: true, args: redistest.ClusterArgs(bus), hostNetwork: true})
		return r, redistest.Node{Addr: r.Addr(), BusPort: bus}
	}
	for range masters {
		r, n := node()
		c.Masters, mNodes = append(c.Masters, r), append(mNodes, n)
	}
	for range masters * replicasEach {
		r, n := node()
		c.Replicas, rNodes = append(c.Replicas, r), append(rNodes, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := redistest.Form(ctx, mNodes, rNodes); err != nil {
		t.Fatalf("redisenv: form a cluster of %d masters and %d replicas: %v", masters, masters*replicasEach, err)
	}
	t.Logf("redisenv: %s cluster of %d masters and %d replicas on %s", c.Masters[0].Kind(), masters, masters*replicasEach, strings.Join(c.Addrs(), " "))
	return c
}

// Nodes returns the masters, then the replicas.
func (c *Cluster) Nodes() []*Redis { return append(append([]*Redis(nil), c.Masters...), c.Replicas...) }

// Addrs returns every node's host:port, masters first.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes() {
		out = append(out, n.Addr())
	}
	return out
}

// URL is the cluster's URL for a NecroStack backend: the first master,
// cluster=true, the other nodes as addr=.
func (c *Cluster) URL() string {
	addrs := c.Addrs()
	u := "redis://" + addrs[0] + "?cluster=true"
	for _, a := range addrs[1:] {
		u += "&addr=" + a
	}
	return u
}

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client() *goredis.ClusterClient {
	rdb := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs(), MaxRetries: -1})
	c.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
