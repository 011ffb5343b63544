package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// Redis replicates asynchronously: a write the master acknowledged can be
// lost with the master, if its replicas had not received it when one of
// them was promoted. With Config.WaitReplicas, Enqueue and every commit
// run on one connection of the master that holds the stream, followed by
// WAIT, and return only once that many replicas have the write.

// ErrNotReplicated is wrapped by the error of an Enqueue or a commit whose
// write fewer than Config.WaitReplicas replicas acknowledged within
// Config.WaitTimeout. The write is on the master: a commit retried (as the
// Spine retries it) is recognised as done and writes nothing twice; an
// Enqueue retried stores the event twice unless Config.EnqueueDedup.
var ErrNotReplicated = errors.New("not acknowledged by enough replicas")

// DefaultWaitTimeout is the default Config.WaitTimeout.
const DefaultWaitTimeout = time.Second

// checkReplicaClient refuses a client WaitReplicas cannot pin to one
// connection of a master.
func checkReplicaClient(rdb goredis.UniversalClient, cfg *Config) error {
	if cfg.WaitReplicas == 0 {
		return nil
	}
	switch rdb.(type) {
	case *goredis.Client, *goredis.ClusterClient:
		return nil
	}
	return fmt.Errorf("redis config: WaitReplicas needs a *redis.Client or a *redis.ClusterClient, to WAIT on the connection that wrote, not a %T", rdb)
}

// replicated runs write, and with cfg.WaitReplicas waits for that many
// replicas to have it: write then runs on one connection of the master of
// key (the stream), and WAIT after it on the same connection.
func replicated(ctx context.Context, rdb goredis.UniversalClient, cfg *Config, key string, write func(goredis.Cmdable) error) error {
	if cfg.WaitReplicas == 0 {
		return write(rdb)
	}
	var node *goredis.Client
	switch c := rdb.(type) {
	case *goredis.Client:
		node = c
	case *goredis.ClusterClient:
		n, err := c.MasterForKey(ctx, key)
		if err != nil {
			return err
		}
		node = n
	default:
		return fmt.Errorf("WaitReplicas with a %T: %w", rdb, core.ErrFatal) // New refuses it first
	}
	conn := node.Conn()
	defer conn.Close()
	if err := write(conn); err != nil {
		return err
	}
	n, err := conn.Do(ctx, "WAIT", cfg.WaitReplicas, cfg.WaitTimeout.Milliseconds()).Int()
	switch {
	case err != nil:
		return fmt.Errorf("WAIT for %d replicas: %w", cfg.WaitReplicas, err)
	case n < cfg.WaitReplicas:
		return fmt.Errorf("%w: %d of %d replicas acknowledged within %v", ErrNotReplicated, n, cfg.WaitReplicas, cfg.WaitTimeout)
	}
	return nil
}

// lastReload is when each cluster client was last told to reload its map
// of the slots, in Unix nanoseconds.
var lastReload sync.Map // *goredis.ClusterClient -> *atomic.Int64

// reloadOnNetError has a cluster client reload its map of the slots when
// err is a network error, at most every 200 ms: go-redis reloads it on
// MOVED, but a master that died refuses connections instead, and the
// client would keep dialling it until its periodic reload (60 s), though a
// replica took over its slots long before (go-redis issue #3979).
func reloadOnNetError(rdb goredis.UniversalClient, err error) {
	cc, ok := rdb.(*goredis.ClusterClient)
	var ne net.Error
	if !ok || err == nil || !errors.As(err, &ne) && !errors.Is(err, io.EOF) {
		return
	}
	v, _ := lastReload.LoadOrStore(cc, new(atomic.Int64))
	last, now := v.(*atomic.Int64), time.Now().UnixNano()
	if prev := last.Load(); now-prev < int64(200*time.Millisecond) || !last.CompareAndSwap(prev, now) {
		return
	}
	cc.ReloadState(context.Background())
}
