package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

// BenchmarkCommitBatch commits batches of 128 deliveries, each emitting
// one event, on a real redis-server: one stream, and 16 partitions merged
// into one script call. Each iteration is one batch (its pulls are not
// timed); it reports the commit script's Redis time per commit (INFO
// commandstats), where the script's arguments and its calls per partition
// show.
//
//	go test -run '^$' -bench CommitBatch ./backends/redis
func BenchmarkCommitBatch(b *testing.B) {
	const batch = 128
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("partitions=%d", p), func(b *testing.B) {
			srv := redistest.Start(b)
			ctx := context.Background()
			cfg := nsredis.Config{URL: srv.URL(), Stream: "commitbench", Logger: discard(), Block: 100 * time.Millisecond, Batch: batch}
			var backend interface {
				core.Backend
				core.BatchCommitter
				Close() error
			}
			var err error
			if p == 1 {
				backend, err = nsredis.New(ctx, cfg)
			} else {
				backend, err = nsredis.NewPartitioned(ctx, cfg, p)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer backend.Close()
			for i := range batch {
				if err := backend.Enqueue(ctx, core.MustEvent("E", map[string]int{"i": i})); err != nil {
					b.Fatal(err)
				}
			}
			rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
			defer rdb.Close()
			commits := make([]core.Commit, 0, batch)
			b.ResetTimer()
			for n := range b.N {
				b.StopTimer()
				commits = commits[:0]
				for len(commits) < batch { // what the last batch emitted
					d, ok, err := backend.Pull(ctx, 5*time.Second)
					if err != nil || !ok {
						b.Fatalf("batch %d, after %d deliveries: Pull: %v, %v", n, len(commits), ok, err)
					}
					commits = append(commits, core.Commit{Delivery: d, Outcome: emitNext(d)})
				}
				if n == 0 {
					if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				for i, err := range backend.CommitBatch(ctx, commits) {
					if err != nil {
						b.Fatalf("batch %d, commit %d: %v", n, i, err)
					}
				}
			}
			b.StopTimer()
			usec := commandStats(b, rdb, "usec")
			if usec := usec["evalsha"] + usec["eval"]; usec > 0 {
				b.ReportMetric(usec/float64(b.N*batch), "redis-µs/commit")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/commit")
		})
	}
}
