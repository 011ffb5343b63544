package redis_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

// Trimming keeps up with a sustained 1,000 rituals/s (4,000 entries/s): the
// stream stays within twice MaxLen while every ritual completes.
func TestFaultTrimKeepsUp(t *testing.T) {
	e := newFaultEnv(t)
	const maxLen, perSecond, seconds = 2000, 1000, 5
	w := e.startWorker("trimmer", nsredis.Config{Trim: nsredis.Trim{MaxLen: maxLen, Interval: 200 * time.Millisecond}},
		core.Config{Concurrency: 4})
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if n, err := e.rdb.XLen(context.Background(), stream).Result(); err == nil && n > peak.Load() {
				peak.Store(n)
			}
		}
	})
	// The producer: 1,000 rituals a second, in steps of 10ms.
	start := time.Now()
	sent := 0
	for sent < perSecond*seconds {
		due := int(time.Since(start).Seconds()*perSecond) + 10
		if due > perSecond*seconds {
			due = perSecond * seconds
		}
		if due > sent {
			e.seed(sent+1, due)
			sent = due
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	e.waitFinished(sent, 30*time.Second)
	close(stop)
	wg.Wait()
	w.stop(t)
	t.Logf("fault trim-keeps-up: %d rituals in %v (%.0f/s), peak XLEN %d with MaxLen %d", sent, took.Round(time.Millisecond),
		float64(sent)/took.Seconds(), peak.Load(), maxLen)
	if p := peak.Load(); p > 2*maxLen {
		t.Errorf("the stream reached %d entries with Trim.MaxLen %d: want at most %d", p, maxLen, 2*maxLen)
	}
	if p := pendingCount(t, e.rdb); p != 0 {
		t.Errorf("%d entries still pending", p)
	}
}

// Trimming never removes what another group on the stream has not read: an
// audit group that reads only at the end sees every entry.
func TestFaultTrimSparesOtherGroups(t *testing.T) {
	e := newFaultEnv(t)
	ctx := context.Background()
	if err := e.rdb.XGroupCreateMkStream(ctx, stream, "audit", "0").Err(); err != nil {
		t.Fatal(err)
	}
	const rituals = 500
	e.seed(1, rituals)
	w := e.startWorker("trimmer", nsredis.Config{ClaimInterval: 20 * time.Millisecond,
		Trim: nsredis.Trim{MaxLen: 100, Interval: 20 * time.Millisecond}}, core.Config{})
	e.waitFinished(rituals, 30*time.Second)
	// Let trims run past the end of the chain: a commit triggers none.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if n := streamLen(t, e.rdb, stream); n < 4*rituals {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	seen := 0
	for {
		res, err := e.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "audit", Consumer: "auditor",
			Streams: []string{stream, ">"}, Count: 1000, Block: -1}).Result()
		if err == goredis.Nil || len(res) == 0 || len(res[0].Messages) == 0 {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res[0].Messages {
			seen++
			if err := e.rdb.XAck(ctx, stream, "audit", m.ID).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("fault trim-other-group: the audit group saw %d of %d entries", seen, 4*rituals)
	if seen != 4*rituals {
		t.Errorf("the audit group read %d entries, want all %d: trimming removed what it had not read", seen, 4*rituals)
	}
	// Once the audit group has read everything, trimming goes on.
	start := time.Now()
	for streamLen(t, e.rdb, stream) > 2*100 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the stream still holds %d entries 10s after every group read it (MaxLen 100)", streamLen(t, e.rdb, stream))
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.stop(t)
}

// Read replies lost on the way (the connection cut after Redis ran the
// XREADGROUP) leave entries pending for a consumer that never received
// them. The consumer takes them back at once, not after ClaimMinIdle.
func TestFaultLostReadReplies(t *testing.T) {
	e := newFaultEnv(t)
	const rituals = 200
	e.seed(1, rituals)
	var reads atomic.Int64
	e.proxy.CutReply(func(args []string) bool {
		// Every other read, so that a blind retry of the client succeeds.
		return redistest.Command("XREADGROUP")(args) && reads.Add(1)%2 == 1
	}, 5)
	start := time.Now()
	e.startWorker("reader", nsredis.Config{ClaimMinIdle: time.Minute, Batch: 8}, core.Config{})
	took := e.waitFinished(rituals, 20*time.Second)
	if e.proxy.Cut() != 5 {
		t.Errorf("%d read replies cut, want 5", e.proxy.Cut())
	}
	if took > 10*time.Second {
		t.Errorf("the run took %v with ClaimMinIdle 1m: lost entries waited", took)
	}
	e.checkClean("lost-read-replies", rituals, time.Since(start))
}

// Links that stay open but carry nothing, ever again, from a moment on (a
// NAT that forgot them), for 5s: once new connections get through, the
// worker makes progress within a few seconds, and finishes the run.
func TestFaultHalfOpenLink(t *testing.T) {
	e := newFaultEnv(t)
	const rituals = 300
	before := e.midRun(rituals, e.proxy.BlackHole, e.proxy.Heal)
	healed := time.Now()
	for e.chain.finished() <= before {
		if time.Since(healed) > 30*time.Second {
			t.Fatal("no progress 30s after the link healed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	progress := time.Since(healed)
	if progress > 3*time.Second {
		t.Errorf("first progress %v after the link healed, want within 3s", progress)
	}
	e.waitFinished(rituals, 30*time.Second)
	e.checkClean("half-open-link", rituals, progress)
}

// A link that holds everything for 5s and then delivers it (a partition
// that heals): commands the worker gave up on, reads among them, reach
// Redis late. The entries those reads delivered are taken back without
// waiting for ClaimMinIdle.
func TestFaultStalledLink(t *testing.T) {
	e := newFaultEnv(t)
	const rituals = 300
	e.midRun(rituals, e.proxy.Stall, e.proxy.Resume)
	resumed := time.Now()
	e.waitFinished(rituals, 30*time.Second)
	took := time.Since(resumed)
	if took > 10*time.Second {
		t.Errorf("the run ended %v after the link resumed, with ClaimMinIdle 1m: entries of late reads waited", took)
	}
	e.checkClean("stalled-link", rituals, took)
}

// midRun runs a worker (ClaimMinIdle 1m) on rituals and, once a sixth of
// them are done, starts a fault that lasts 5s; it returns how many rituals
// were done when the fault ended. The last stage is the slow one: a
// backlog is worked through stage by stage, so rituals finish one by one
// over the run, and the fault comes in the middle of it.
func (e *faultEnv) midRun(rituals int, fault, end func()) int {
	e.t.Helper()
	e.chain.slowOrgan, e.chain.slow = "Scribe", 10*time.Millisecond
	e.seed(1, rituals)
	e.startWorker("reader", nsredis.Config{ClaimMinIdle: time.Minute}, core.Config{})
	e.waitFinished(rituals/6, 20*time.Second)
	fault()
	time.Sleep(5 * time.Second) // the length of the fault
	done := e.chain.finished()
	end()
	return done
}

// Stopping a worker while its link is half-open and a handler holds an
// entry: Run returns within Block + ShutdownTimeout, Close within its
// bound, and Close says which entries it could not hand back (the handler,
// cancelled at ShutdownTimeout, releases its entry to the backend, which
// cannot reach Redis to put it back). A new worker then finishes
// everything.
func TestFaultStopOnHalfOpenLink(t *testing.T) {
	e := newFaultEnv(t)
	const rituals = 100
	e.chain.slowOrgan, e.chain.slow = "Scribe", 20*time.Millisecond
	e.seed(1, rituals)
	const block, shutdown = time.Second, 2 * time.Second
	w := e.startWorker("victim", nsredis.Config{Block: block, ClaimMinIdle: 2 * time.Second, Batch: 32},
		core.Config{Concurrency: 4, ShutdownTimeout: shutdown})
	e.waitFinished(10, 20*time.Second)
	e.chain.hold(true)
	for deadline := time.Now().Add(20 * time.Second); e.chain.held.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no Scribe call held within 20s")
		}
	}
	e.proxy.BlackHole()
	run, closing := w.stop(t)
	t.Logf("fault stop-on-half-open: Run returned %v after cancel, Close took %v", run.Round(time.Millisecond), closing.Round(time.Millisecond))
	if limit := block + shutdown + time.Second; run > limit {
		t.Errorf("Run returned %v after its cancel on a half-open link, want within Block + ShutdownTimeout (%v) and a second", run, block+shutdown)
	}
	if limit := nsredis.CloseTimeout + time.Second; closing > limit {
		t.Errorf("Close took %v on a half-open link, want within %v", closing, nsredis.CloseTimeout)
	}
	if said := e.logs.lines(slog.LevelWarn, "could not hand back"); len(said) == 0 {
		t.Errorf("Close did not say what it could not hand back; the log:\n%s", strings.Join(e.logs.lines(slog.LevelDebug, ""), "\n"))
	}
	e.chain.hold(false)
	e.proxy.Heal()
	start := time.Now()
	e.startWorker("survivor", nsredis.Config{ClaimMinIdle: 2 * time.Second, ClaimInterval: 200 * time.Millisecond}, core.Config{Concurrency: 4})
	e.waitFinished(rituals, 30*time.Second)
	e.checkClean("stop-on-half-open", rituals, time.Since(start))
}

// A commit whose reply is cut after Redis ran it: the retry recognises its
// own earlier success, counts the events as emitted, and logs no loss.
func TestFaultCommitReplyCut(t *testing.T) {
	e := newFaultEnv(t)
	const rituals = 100
	e.seed(1, rituals)
	// Loaded beforehand, so that the cuts hit commits that ran, not
	// NOSCRIPT answers.
	if err := e.rdb.ScriptLoad(context.Background(), scriptSource(t, "commit.lua")).Err(); err != nil {
		t.Fatal(err)
	}
	e.proxy.CutReply(evalOf(scriptSHA(t, "commit.lua")), 3)
	start := time.Now()
	w := e.startWorker("committer", nsredis.Config{Batch: 8}, core.Config{})
	e.waitFinished(rituals, 20*time.Second)
	w.stop(t)
	if e.proxy.Cut() != 3 {
		t.Errorf("%d commit replies cut, want 3", e.proxy.Cut())
	}
	st := w.s.Stats()
	if st.Emitted != 3*rituals || st.DeadLettered != 0 {
		t.Errorf("Stats: %d emitted, %d dead-lettered; want %d and 0", st.Emitted, st.DeadLettered, 3*rituals)
	}
	if said := e.logs.lines(slog.LevelWarn, "commit discarded"); len(said) > 0 {
		t.Errorf("a commit that landed was reported lost: %v", said)
	}
	e.checkClean("commit-reply-cut", rituals, time.Since(start))
}

// A handler slower than ClaimMinIdle, with two workers: its entry is never
// reclaimed from the live worker that handles it, so each ritual's slow
// stage runs once and nothing reaches MaxDeliveries.
func TestFaultSlowHandler(t *testing.T) {
	e := newFaultEnv(t)
	const rituals = 5
	e.chain.slowOrgan, e.chain.slow = "Medium", 3*time.Second
	e.seed(1, rituals)
	cfg := nsredis.Config{ClaimMinIdle: 2 * time.Second, ClaimInterval: 200 * time.Millisecond, MaxDeliveries: 3}
	start := time.Now()
	e.startWorker("one", cfg, core.Config{Concurrency: rituals})
	e.startWorker("two", cfg, core.Config{Concurrency: rituals})
	e.waitFinished(rituals, 60*time.Second)
	runs := 0
	for r := 1; r <= rituals; r++ {
		runs += e.chain.callsOf("Medium", r)
		if n := e.chain.callsOf("Medium", r); n != 1 {
			t.Errorf("ritual %d: the slow Medium ran %d times, want once", r, n)
		}
	}
	t.Logf("fault slow-handler: the 3s Medium ran %d times for %d rituals (ClaimMinIdle 2s)", runs, rituals)
	e.checkClean("slow-handler", rituals, time.Since(start))
}

// A group deleted under a kept stream is re-created past what was handled:
// nothing handled before runs again, and what comes after is handled once.
func TestFaultDeletedGroup(t *testing.T) {
	e := newFaultEnv(t)
	const first, second = 200, 100
	e.seed(1, first)
	e.startWorker("worker", nsredis.Config{}, core.Config{})
	e.waitFinished(first, 20*time.Second)
	if err := e.rdb.XGroupDestroy(context.Background(), stream, nsredis.DefaultGroup).Err(); err != nil {
		t.Fatal(err)
	}
	e.seed(first+1, first+second)
	start := time.Now()
	e.waitFinished(first+second, 30*time.Second)
	again := 0
	for r := 1; r <= first; r++ {
		again += e.chain.callsOf("Summoner", r) - 1
	}
	t.Logf("fault deleted-group: %d of %d handled rituals ran again", again, first)
	if again != 0 {
		t.Errorf("%d rituals handled before the group was deleted ran again, want 0", again)
	}
	if said := e.logs.lines(slog.LevelError, "consumer group was lost"); len(said) != 1 {
		t.Errorf("lines about the lost group: %q, want one", said)
	}
	e.checkClean("deleted-group", first+second, time.Since(start))
}

// Enqueue is at-least-once: a reply lost after Redis stored the event is an
// error, and a producer that retries stores it twice, unless the backend
// deduplicates by event id (Config.EnqueueDedup), as here.
func TestFaultEnqueueReplyCut(t *testing.T) {
	for _, dedup := range []time.Duration{0, time.Minute} {
		e := newFaultEnv(t)
		b := newBackend(t, nsredis.Config{URL: e.proxy.URL(), Logger: e.log, EnqueueDedup: dedup})
		ctx := context.Background()
		seedEvent := core.MustEvent("SUMMON_RITUAL", map[string]int{"ritual": 1})
		e.proxy.CutReply(func(args []string) bool {
			return redistest.Command("XADD")(args) || redistest.Command("EVALSHA")(args) || redistest.Command("EVAL")(args)
		}, 1)
		err := b.Enqueue(ctx, seedEvent)
		if err == nil {
			t.Errorf("dedup %v: Enqueue whose reply was cut succeeded: a blind retry may have stored it twice", dedup)
		}
		if err := b.Enqueue(ctx, seedEvent); err != nil { // the producer retries
			t.Fatalf("dedup %v: retried Enqueue: %v", dedup, err)
		}
		want := int64(2)
		if dedup > 0 {
			want = 1
		}
		if n := streamLen(t, e.rdb, stream); n != want {
			t.Errorf("dedup %v: %d entries after a retried Enqueue, want %d", dedup, n, want)
		}
	}
}

// Every connection reset, every 50–500ms, for the whole run: replies lost
// with them are recovered by take-back, not by the periodic reclaim
// (ClaimMinIdle 1m), so the run ends well within ClaimMinIdle with nothing
// lost, duplicated or left pending.
func TestFaultResets(t *testing.T) {
	e := newFaultEnv(t)
	const rituals = 600
	// A run of 6s at least, some 20 resets; Batch 8 makes many reads, so
	// that resets cut read replies too.
	e.chain.slowOrgan, e.chain.slow = "Scribe", 10*time.Millisecond
	e.seed(1, rituals)
	stop := make(chan struct{})
	var resets atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(50+rand.IntN(451)) * time.Millisecond):
			}
			e.proxy.ResetAll()
			resets.Add(1)
		}
	})
	stopResets := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopResets() // also when the test fails early
	start := time.Now()
	e.startWorker("reader", nsredis.Config{ClaimMinIdle: time.Minute, Batch: 8}, core.Config{})
	took := e.waitFinished(rituals, 45*time.Second)
	stopResets()
	t.Logf("fault resets: %d resets of every connection, %d connections accepted", resets.Load(), e.proxy.Accepted())
	if resets.Load() < 3 {
		t.Errorf("only %d resets during the run, want at least 3", resets.Load())
	}
	if took > 30*time.Second {
		t.Errorf("the run took %v with ClaimMinIdle 1m: entries of lost replies waited", took)
	}
	e.checkClean("resets", rituals, time.Since(start))
}
