package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of real redis-server processes, each on its
// own loopback port with its cluster bus on another, announcing
// 127.0.0.1: masters holding the 16,384 slots in equal ranges, and
// replicas of each. A test can kill a master (Server.Kill) as a crash
// would; its replica takes over after the node timeout.
type Cluster struct {
	t        testing.TB
	Masters  []*Server
	Replicas []*Server // replicasEach of each master, in master order
}

// NodeTimeout is the cluster-node-timeout of a Cluster's nodes: how long a
// master may be silent before its replica is promoted.
const NodeTimeout = 2 * time.Second

// StartCluster starts masters masters, with replicasEach replicas each,
// waits until every node says the cluster is ok and every replica is in
// sync with its master, and stops them all when the test ends. args are
// more redis-server options for every node (such as
// "--cluster-require-full-coverage", "no"). Like Start, it skips the test
// only when no redis-server binary exists.
func StartCluster(t testing.TB, masters, replicasEach int, args ...string) *Cluster {
	t.Helper()
	if masters < 1 || replicasEach < 0 {
		t.Fatalf("redistest.StartCluster(%d, %d): want at least one master", masters, replicasEach)
	}
	c := &Cluster{t: t}
	node := func() *Server {
		return Start(t, append(ClusterArgs(freePort(t)), args...)...)
	}
	for range masters {
		c.Masters = append(c.Masters, node())
	}
	for range masters * replicasEach {
		c.Replicas = append(c.Replicas, node())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.form(ctx, replicasEach); err != nil {
		t.Fatalf("redistest: form the cluster: %v", err)
	}
	return c
}

// form forms c's nodes into a cluster (see Form).
func (c *Cluster) form(ctx context.Context, replicasEach int) error {
	node := func(s *Server) Node {
		bus, _ := strconv.Atoi(s.option("--cluster-port"))
		return Node{Addr: s.Addr(), BusPort: bus}
	}
	var masters, replicas []Node
	for _, m := range c.Masters {
		masters = append(masters, node(m))
	}
	for _, r := range c.Replicas {
		replicas = append(replicas, node(r))
	}
	return Form(ctx, masters, replicas)
}

// Node is a redis-server started with --cluster-enabled yes and
// --cluster-announce-ip 127.0.0.1, and not yet in a cluster: its address
// and its cluster bus port.
type Node struct {
	Addr    string
	BusPort int
}

// ClusterArgs are the redis-server options of a node of a test cluster on
// loopback, with its cluster bus on busPort: cluster mode, announcing
// 127.0.0.1, and NodeTimeout.
func ClusterArgs(busPort int) []string {
	return []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-announce-ip", "127.0.0.1", "--cluster-port", strconv.Itoa(busPort),
		"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout / time.Millisecond))}
}

// Form introduces the nodes to each other, gives the masters the 16,384
// slots in equal ranges and each master len(replicas)/len(masters)
// replicas (in order), and waits until every node says the cluster is ok
// and every replica is in sync.
func Form(ctx context.Context, masters, replicas []Node) error {
	if len(masters) == 0 || len(replicas)%len(masters) != 0 {
		return fmt.Errorf("form a cluster of %d masters and %d replicas: want replicas a multiple of masters", len(masters), len(replicas))
	}
	replicasEach := len(replicas) / len(masters)
	all := append(append([]Node(nil), masters...), replicas...)
	first := admin(all[0].Addr)
	defer first.Close()
	for _, n := range all[1:] {
		// With the node's own bus port: CLUSTER MEET assumes port+10000.
		host, port, _ := strings.Cut(n.Addr, ":")
		if err := first.Do(ctx, "CLUSTER", "MEET", host, port, n.BusPort).Err(); err != nil {
			return fmt.Errorf("CLUSTER MEET %s: %w", n.Addr, err)
		}
	}
	ids := make([]string, len(masters))
	for i, m := range masters {
		rdb := admin(m.Addr)
		id, err := rdb.ClusterMyID(ctx).Result()
		if err == nil {
			lo, hi := i*16384/len(masters), (i+1)*16384/len(masters)-1
			err = rdb.ClusterAddSlotsRange(ctx, lo, hi).Err()
		}
		rdb.Close()
		if err != nil {
			return fmt.Errorf("master %s: %w", m.Addr, err)
		}
		ids[i] = id
	}
	knowsMasters := func(info, nodes string) bool { // by their ids: a node in handshake has a temporary one
		for _, id := range ids {
			if !strings.Contains(nodes, id) {
				return false
			}
		}
		return strings.Count(nodes, "\n") >= len(all) && !strings.Contains(nodes, "handshake")
	}
	if err := waitAll(ctx, all, knowsMasters); err != nil {
		return fmt.Errorf("nodes meeting: %w", err)
	}
	for i, r := range replicas {
		rdb := admin(r.Addr)
		err := rdb.ClusterReplicate(ctx, ids[i/replicasEach]).Err()
		rdb.Close()
		if err != nil {
			return fmt.Errorf("replica %s of %s: %w", r.Addr, masters[i/replicasEach].Addr, err)
		}
	}
	return waitAll(ctx, all, func(info, nodes string) bool {
		return strings.Contains(info, "cluster_state:ok") && strings.Count(nodes, "slave") == len(replicas) &&
			!strings.Contains(nodes, "fail") && !strings.Contains(nodes, "handshake")
	})
}

// waitAll waits until ok holds of every node's CLUSTER INFO and CLUSTER
// NODES, and of every replica's link to its master.
func waitAll(ctx context.Context, nodes []Node, ok func(info, nodes string) bool) error {
	for _, n := range nodes {
		rdb := admin(n.Addr)
		err := poll(ctx, func() (bool, error) {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err != nil {
				return false, err
			}
			nodes, err := rdb.ClusterNodes(ctx).Result()
			if err != nil || !ok(info, nodes) {
				return false, err
			}
			if strings.Contains(nodes, "myself,slave") {
				repl, err := rdb.Info(ctx, "replication").Result()
				return err == nil && strings.Contains(repl, "master_link_status:up"), err
			}
			return true, nil
		})
		rdb.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
	}
	return nil
}

// poll calls f every 50 ms until it reports done or ctx ends; the last
// error f gave is in the error then.
func poll(ctx context.Context, f func() (bool, error)) error {
	var last error
	for {
		done, err := f()
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func admin(addr string) *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1})
}

// Nodes returns the masters, then the replicas.
func (c *Cluster) Nodes() []*Server {
	return append(append([]*Server(nil), c.Masters...), c.Replicas...)
}

// Addrs returns every node's host:port, masters first: the seed list of a
// cluster client.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes() {
		out = append(out, n.Addr())
	}
	return out
}

// Client returns a go-redis cluster client of the cluster, closed when the
// test ends, with the settings a NecroStack backend wants of a client it
// is given (no blind re-sends, deadlines from the context).
func (c *Cluster) Client() *goredis.ClusterClient {
	rdb := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.Addrs(), MaxRetries: -1, ContextTimeoutEnabled: true})
	c.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
