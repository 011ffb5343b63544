package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/backends/redis"
)

func newRedisClient(url string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("-redis-url %s: %w", redis.RedactURL(url), err)
	}
	redis.ClientDefaults(opts)
	return goredis.NewClient(opts), nil
}

// freshStream returns a stream key no other run uses. Its hash tag puts the
// keys derived from it (dead letters, Watermill's topics) in one cluster slot.
func freshStream(system string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
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
	n, err := rdb.Exists(ctx, keys...).Result()
	if err != nil {
		return fmt.Errorf("redis at %s: %w", redis.RedactURL(cfg.RedisURL), err)
	}
	if n > 0 {
		return fmt.Errorf("-stream %s: %d of the keys this run needs (%s) already exist: give a fresh key or leave -stream unset",
			cfg.Stream, n, strings.Join(keys, ", "))
	}
	return nil
}
