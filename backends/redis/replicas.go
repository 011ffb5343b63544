package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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
	wait := cfg.WaitTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait+10*time.Millisecond {
		wait = max(time.Until(dl)-10*time.Millisecond, time.Millisecond) // WAIT's answer before the caller's deadline
	}
	n, err := conn.Wait(ctx, cfg.WaitReplicas, wait).Result() // with its own read timeout
	if err != nil {
		reloadOnNetError(rdb, err)
	}
	switch {
	case err != nil:
		return fmt.Errorf("WAIT for %d replicas: %w", cfg.WaitReplicas, err)
	case n < int64(cfg.WaitReplicas):
		return fmt.Errorf("%w: %d of %d replicas acknowledged within %v", ErrNotReplicated, n, cfg.WaitReplicas, wait)
	}
	return nil
}

// reloadOnNetError has a cluster client reload its map of the slots when
// err says the topology moved: a network error (a master that died
// refuses connections rather than answering MOVED, and the client would
// keep dialling it until its periodic reload, 60 s: go-redis issue
// #3979), or a MOVED, READONLY, CLUSTERDOWN or TRYAGAIN that reached the
// backend past the client's own handling (the WaitReplicas writes go to
// one node's connection). go-redis coalesces the reloads.
func reloadOnNetError(rdb goredis.UniversalClient, err error) {
	cc, ok := rdb.(*goredis.ClusterClient)
	if !ok || err == nil {
		return
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || goredis.HasErrorPrefix(err, "MOVED") ||
		goredis.HasErrorPrefix(err, "READONLY") || goredis.HasErrorPrefix(err, "CLUSTERDOWN") || goredis.HasErrorPrefix(err, "TRYAGAIN") {
		cc.ReloadState(context.Background())
	}
}
