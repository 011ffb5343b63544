package redis_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// finals counts the chain's last events per ritual.
type finals struct {
	mu sync.Mutex
	n  map[int]int
}

func (f *finals) organ() core.Organ {
	return core.OrganFunc("Scribe", []string{"OMEN_REVEALED"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		var p struct{ Ritual int }
		if err := e.DecodePayload(&p); err != nil {
			return nil, core.Permanent(err)
		}
		f.mu.Lock()
		f.n[p.Ritual]++
		f.mu.Unlock()
		return nil, nil
	})
}

func (f *finals) distinct() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.n)
}

func seanceChain(f *finals) []core.Organ {
	return []core.Organ{
		necrotest.Relay("Summoner", "SUMMON_RITUAL", "SPIRIT_APPEARED"),
		necrotest.Relay("Medium", "SPIRIT_APPEARED", "ANSWER_GENERATED"),
		necrotest.Relay("Oracle", "ANSWER_GENERATED", "OMEN_REVEALED"),
		f.organ(),
	}
}

// Two Spines, each with its own consumer in one group, share a chain of 300
// rituals: every ritual ends exactly once, nothing stays pending, nothing is
// dead-lettered.
func TestTwoSpinesShareAGroup(t *testing.T) {
	srv := redistest.Start(t)
	const rituals = 300
	f := &finals{n: map[int]int{}}
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var wg sync.WaitGroup
	spines := make([]*core.Spine, 2)
	for i := range spines {
		b := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: fmt.Sprintf("worker-%d", i), Batch: 8})
		s, err := core.NewSpine(b, seanceChain(f), core.Config{MaxSteps: core.NoStepLimit, PullTimeout: 100 * time.Millisecond, Logger: discard()})
		if err != nil {
			t.Fatal(err)
		}
		spines[i] = s
		if i == 0 {
			for r := 1; r <= rituals; r++ {
				if err := s.Enqueue(ctx, core.MustEvent("SUMMON_RITUAL", map[string]int{"ritual": r})); err != nil {
					t.Fatal(err)
				}
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for f.distinct() < rituals && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	for r := 1; r <= rituals; r++ {
		if n := f.n[r]; n != 1 {
			t.Errorf("ritual %d ended %d times, want once", r, n)
		}
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	if p := pendingCount(t, rdb); p != 0 {
		t.Errorf("pending at the end: %d", p)
	}
	if n := streamLen(t, rdb, stream+":dlq"); n != 0 {
		t.Errorf("dead letters: %d", n)
	}
	for i, s := range spines {
		if s.Stats().Handled == 0 {
			t.Errorf("spine %d handled nothing: the group did not share the work", i)
		}
	}
}

// BenchmarkSeanceChainRedis runs b.N rituals of a four-organ chain through
// one Spine on a real redis-server (no persistence) and reports handled
// events (organ calls) per second.
func BenchmarkSeanceChainRedis(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			srv := redistest.Start(b)
			f := &finals{n: map[int]int{}}
			ctx := context.Background()
			backend, err := nsredis.New(ctx, nsredis.Config{URL: srv.URL(), Logger: discard()})
			if err != nil {
				b.Fatal(err)
			}
			defer backend.Close()
			s, err := core.NewSpine(backend, seanceChain(f), core.Config{
				MaxSteps: core.NoStepLimit, Concurrency: conc, PullTimeout: 50 * time.Millisecond, Logger: discard()})
			if err != nil {
				b.Fatal(err)
			}
			pipe := backend.Client().Pipeline()
			for r := range b.N {
				wire, _ := core.MustEvent("SUMMON_RITUAL", map[string]int{"ritual": r}).MarshalJSON()
				pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"event", string(wire)}})
				if pipe.Len() == 1000 || r == b.N-1 {
					if _, err := pipe.Exec(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			necrotest.RunBenchmark(b, s, int64(4*b.N))
			if got := f.distinct(); got != b.N {
				b.Fatalf("%d rituals ended, want %d", got, b.N)
			}
		})
	}
}
