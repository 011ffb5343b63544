package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/backends/redis"
)

// newRedisClient returns a client for url, a cluster client for a URL
// with cluster=true.
func newRedisClient(url string) (goredis.UniversalClient, error) {
	rdb, err := redis.NewClient(url)
	if err != nil {
		return nil, fmt.Errorf("-redis-url: %w", err)
	}
	return rdb, nil
}

// freshStream returns a stream key no other run uses. Its hash tag puts the
// keys derived from it (dead letters, Watermill's topics) in one cluster slot.
func freshStream(system string, partitions int) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	if partitions > 1 { // each partition's stream gets a hash tag of its own
		return fmt.Sprintf("necrobench:%s-%d-%s", system, time.Now().UnixNano(), hex.EncodeToString(b[:]))
	}
	return fmt.Sprintf("necrobench:{%s-%d-%s}", system, time.Now().UnixNano(), hex.EncodeToString(b[:]))
}

// requireFreshKeys refuses to run on keys that already exist: old entries
// would be read as this run's rituals.
func requireFreshKeys(ctx context.Context, cfg Config, keys ...string) error {
	rdb, err := newRedisClient(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	var n int64
	for _, k := range keys { // one at a time: on a cluster they are in different slots
		m, err := rdb.Exists(ctx, k).Result()
		if err != nil {
			return fmt.Errorf("redis at %s: %w", redis.RedactURL(cfg.RedisURL), err)
		}
		n += m
	}
	if n > 0 {
		return fmt.Errorf("-stream %s: %d of the keys this run needs (%s) already exist: give a fresh key or leave -stream unset",
			cfg.Stream, n, strings.Join(keys, ", "))
	}
	return nil
}

// redisCPU returns the CPU time (user and system, all threads) the Redis
// server at rdb has used since it started, from INFO cpu; on a cluster,
// that of all its masters.
func redisCPU(ctx context.Context, rdb goredis.UniversalClient) (time.Duration, error) {
	cc, ok := rdb.(*goredis.ClusterClient)
	if !ok {
		return serverCPU(ctx, rdb)
	}
	var mu sync.Mutex
	var total time.Duration
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		d, err := serverCPU(ctx, c)
		mu.Lock()
		total += d
		mu.Unlock()
		return err
	})
	return total, err
}

// serverCPU is redisCPU of one server.
func serverCPU(ctx context.Context, rdb goredis.Cmdable) (time.Duration, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO cpu: %w", err)
	}
	var total float64
	found := 0
	for _, line := range strings.Split(info, "\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "used_cpu_sys" && name != "used_cpu_user") {
			continue
		}
		s, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, fmt.Errorf("redis INFO cpu: %s %q: %w", name, value, err)
		}
		total += s
		found++
	}
	if found != 2 {
		return 0, errors.New("redis INFO cpu: no used_cpu_sys and used_cpu_user")
	}
	return time.Duration(total * float64(time.Second)), nil
}
