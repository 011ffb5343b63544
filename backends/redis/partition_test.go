package redis_test

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
)

// The routing of keys is stable: this table is what producers in every
// language must compute (FNV-1a 32-bit of the key, fmix32, mod P).
func TestPartitionOfIsStable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		key     string
		p, want int
	}{
		{"", 16, 11}, {"a", 16, 3}, {"order-1", 16, 12}, {"order-2", 16, 0},
		{"customer:42", 16, 9}, {"Ünïcødé", 16, 12}, {"order-1", 1, 0}, {"order-1", 7, 4}, {"order-1", 1024, 668},
	} {
		if got := nsredis.PartitionOf(c.key, c.p); got != c.want {
			t.Errorf("PartitionOf(%q, %d) = %d, want %d", c.key, c.p, got, c.want)
		}
	}
	fmix32 := func(h uint32) uint32 { // MurmurHash3's finalizer, as its reference code has it
		h ^= h >> 16
		h *= 0x85ebca6b
		h ^= h >> 13
		h *= 0xc2b2ae35
		h ^= h >> 16
		return h
	}
	for i := range 1000 {
		key := fmt.Sprintf("key-%d", i)
		h := fnv.New32a()
		h.Write([]byte(key))
		if got, want := nsredis.PartitionOf(key, 13), int(fmix32(h.Sum32())%13); got != want {
			t.Fatalf("PartitionOf(%q, 13) = %d, FNV-1a and fmix32 say %d", key, got, want)
		}
	}
}

// Keys that differ in their last characters only spread over the
// partitions about evenly, for powers of two and others alike.
func TestPartitionOfSpreads(t *testing.T) {
	t.Parallel()
	for _, p := range []int{4, 8, 16, 13} {
		for _, pattern := range []string{"acct-%d", "in-acct-%d", "order:%d", "%d"} {
			counts := make([]int, p)
			const keys = 4000
			for i := range keys {
				counts[nsredis.PartitionOf(fmt.Sprintf(pattern, i), p)]++
			}
			for i, n := range counts {
				if n < keys/p*80/100 || n > keys/p*120/100 {
					t.Errorf("%d keys %q over %d partitions: partition %d has %d (all: %v), want about %d", keys, pattern, p, i, n, counts, keys/p)
					break
				}
			}
		}
	}
}

// Each partition's stream lies in its own share of the hash slots, as a
// real Redis computes them (CLUSTER KEYSLOT), with its dead-letter stream
// in the same slot; one partition keeps the stream's name.
func TestPartitionStreamsSpreadOverTheSlots(t *testing.T) {
	srv := redistest.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := ctxT(t)
	if got := nsredis.PartitionStream("necrostack:events", 0, 1); got != "necrostack:events" {
		t.Errorf("one partition: %q, want the stream itself", got)
	}
	golden := []string{"{necrostack:events:p0~2}", "{necrostack:events:p1~0}", "{necrostack:events:p2~2}", "{necrostack:events:p3~0}"}
	for i, want := range golden {
		if got := nsredis.PartitionStream("necrostack:events", i, 4); got != want {
			t.Errorf("partition %d of 4: %q, want %q", i, got, want)
		}
	}
	for _, p := range []int{2, 4, 16, 100} {
		seen := map[int]bool{}
		for i := range p {
			s := nsredis.PartitionStream("necrostack:events", i, p)
			slot, err := rdb.ClusterKeySlot(ctx, s).Result()
			if err != nil {
				t.Fatal(err)
			}
			dlq, err := rdb.ClusterKeySlot(ctx, s+":dlq").Result()
			if err != nil {
				t.Fatal(err)
			}
			if lo, hi := int64(i*16384/p), int64((i+1)*16384/p); slot < lo || slot >= hi || dlq != slot || !strings.HasPrefix(s, "{necrostack:events:p") {
				t.Errorf("partition %d of %d: %s in slot %d (dead letters %d), want one slot in [%d, %d)", i, p, s, slot, dlq, lo, hi)
			}
			seen[int(slot)] = true
		}
		if len(seen) != p {
			t.Errorf("%d partitions in %d slots", p, len(seen))
		}
	}
}

// PartitionOfStream reads back what PartitionStream made, and nothing else.
func TestPartitionOfStream(t *testing.T) {
	for _, base := range []string{"necrostack:events", "a", "x:p3"} {
		for _, p := range []int{2, 16} {
			for i := range p {
				key := nsredis.PartitionStream(base, i, p)
				got, n, ok := nsredis.PartitionOfStream(key)
				if !ok || got != base || n != i {
					t.Errorf("PartitionOfStream(%q) = %q, %d, %v; want %q, %d", key, got, n, ok, base, i)
				}
			}
		}
	}
	for _, key := range []string{"necrostack:events", "{necrostack}:events", "{a:p1}", "{a:p~1}", "{:p1~2}", "{a:p1~x}", "{a:p-1~2}", "a:p1~2"} {
		if s, i, ok := nsredis.PartitionOfStream(key); ok {
			t.Errorf("PartitionOfStream(%q) = %q, %d: want no partition", key, s, i)
		}
	}
}
