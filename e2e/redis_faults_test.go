package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/e2e/redisenv"
	"github.com/necrostack/necrostack/worker/workertest"
)

// outage is how long Redis stays down in the restart scenarios.
const outage = 2 * time.Second

// Scenario 2. Redis is killed (SIGKILL, or a container kill) in the middle
// of a run and started again on the same address with its append-only file
// (appendfsync always). The workers keep running, reconnect and finish:
// every ritual's omen is printed, and the stream holds each event of each
// chain exactly once, in one entry: nothing was lost, and the atomic commit
// of emitted events with the acknowledgement duplicated nothing, even for
// the commits that Redis's death cut short.
func TestRedisKilledAndRestarted(t *testing.T) {
	t.Parallel()
	ctx := scenario(t, 3*time.Minute)
	r := redisenv.Start(t, redisenv.Config{})
	const rituals = 2000
	f := newFleet(t, "seance", r, "e2e:seance")
	rdb := f.rdb
	f.emitSeance(ctx, "crash", rituals)
	w1, w2 := f.worker("medium-1"), f.worker("medium-2")

	acked := waitBusy(ctx, t, f, rituals)
	r.Kill()
	t.Logf("Redis killed after %d/%d entries were acknowledged", acked, 4*rituals)
	time.Sleep(outage)
	f.alive()
	r.Start()
	t.Logf("Redis back on %s", r.Addr())

	f.waitRun(ctx, "every ritual after the restart", "crash", rituals, w1, w2)
	f.stop()

	problems, repeats := omenProblems(omens("crash", w1, w2), rituals, true)
	reportProblems(t, "omens", problems)
	t.Logf("omens printed twice (a handler's side effect repeated on redelivery, allowed): %d", repeats)
	reportProblems(t, "stream", takeCensus(ctx, t, rdb, f.stream).exactlyOnce(ritualKeys("crash", rituals), seanceTypes, false))
	checkDrained(ctx, t, rdb, f.stream)
	if n := dlqLen(ctx, t, rdb, f.stream); n != 0 {
		t.Errorf("dead letters: %d, want 0", n)
	}
	// Each worker saw the outage and said so, once, at Warn.
	for _, w := range []*workertest.Proc{w1, w2} {
		if len(logLines(w.Stderr(), "pull failed")) == 0 && len(logLines(w.Stderr(), "commit failed")) == 0 {
			t.Errorf("%s logged nothing about the outage", w)
		}
	}
}

// Scenario 3. Redis, running without persistence, is killed mid-run and
// restarted: its stream, group and pending entries are gone. The workers do not crash: they re-create
// the group, say that they did and what it means, and serve the séance
// emitted after the restart completely. What the first séance had not
// finished is lost with Redis's data; the test reports how much.
func TestRedisRestartedWithoutPersistence(t *testing.T) {
	t.Parallel()
	ctx := scenario(t, 2*time.Minute)
	r := redisenv.Start(t, redisenv.Config{NoPersistence: true})
	const before, after = 2000, 500
	f := newFleet(t, "seance", r, "e2e:seance")
	rdb := f.rdb
	f.emitSeance(ctx, "before", before)
	w1, w2 := f.worker("medium-1"), f.worker("medium-2")

	acked := waitBusy(ctx, t, f, before)
	r.Kill()
	time.Sleep(outage)
	f.alive()
	r.Start()
	// The workers may already have re-created the group, and with it an
	// empty stream; nothing of the old séance is in it.
	if n, err := rdb.XLen(ctx, f.stream).Result(); err != nil || n != 0 {
		t.Fatalf("after a restart without persistence: XLEN %s = %d, %v; want 0", f.stream, n, err)
	}
	f.emitSeance(ctx, "after", after)

	f.waitRun(ctx, "the séance emitted after the restart", "after", after, w1, w2)
	f.stop()

	problems, _ := omenProblems(omens("after", w1, w2), after, false)
	reportProblems(t, "omens of the séance after the restart", problems)
	// Only the new séance is in the new stream: nothing of the old one
	// came back through a late commit.
	reportProblems(t, "stream", takeCensus(ctx, t, rdb, f.stream).exactlyOnce(ritualKeys("after", after), seanceTypes, false))
	checkDrained(ctx, t, rdb, f.stream)
	if n := dlqLen(ctx, t, rdb, f.stream); n != 0 {
		t.Errorf("dead letters: %d, want 0", n)
	}
	lostGroup := 0
	for _, w := range []*workertest.Proc{w1, w2} {
		lostGroup += len(logLines(w.Stderr(), "consumer group was lost"))
	}
	if lostGroup == 0 {
		t.Error("no worker reported that the consumer group was lost")
	}
	old := omens("before", w1, w2)
	_, repeats := omenProblems(old, before, true)
	if repeats > 0 {
		t.Errorf("séance before the restart: %d omens printed twice; nothing could redeliver them", repeats)
	}
	done := countDone(old, before)
	t.Logf("séance before the restart: %d/%d rituals done (%d/%d entries acknowledged when Redis was killed); %d lost with Redis's data, as expected without persistence",
		done, before, acked, 4*before, before-done)
	if done == before {
		t.Error("nothing of the séance before the restart was lost: the restart missed the run")
	}
}

// Scenario 7. The workers start before Redis does. They do not exit: they
// warn, back off (a few attempts, not a busy loop) and start working when
// Redis comes up.
func TestRedisNotYetUp(t *testing.T) {
	t.Parallel()
	ctx := scenario(t, 2*time.Minute)
	r := redisenv.Start(t, redisenv.Config{Stopped: true})
	// The outage lasts at least down, and until both workers have given up
	// their first contact and met it in their pulls too.
	const rituals, down = 300, 8 * time.Second
	f := newFleet(t, "seance", r, "e2e:seance")
	rdb := f.rdb
	begin := time.Now()
	w1, w2 := f.worker("medium-1"), f.worker("medium-2")
	waitFor(ctx, t, "both workers' pulls to fail", func() (bool, string) {
		f.alive()
		n1, n2 := len(logLines(w1.Stderr(), "pull failed")), len(logLines(w2.Stderr(), "pull failed"))
		return n1 > 0 && n2 > 0, fmt.Sprintf("\"pull failed\" logged %d and %d times", n1, n2)
	})
	time.Sleep(time.Until(begin.Add(down))) // the rest of the outage
	f.alive()
	r.Start()
	f.emitSeance(ctx, "late", rituals)

	f.waitRun(ctx, "every ritual", "late", rituals, w1, w2)
	// One worker may finish the rituals while the other is still backing
	// off (up to 5s between pulls): wait for both to come back.
	waitFor(ctx, t, "both workers' pulls to recover", func() (bool, string) {
		f.alive()
		n1, n2 := len(logLines(w1.Stderr(), "pull recovered")), len(logLines(w2.Stderr(), "pull recovered"))
		return n1 > 0 && n2 > 0, fmt.Sprintf("\"pull recovered\" logged %d and %d times", n1, n2)
	})
	f.stop()

	problems, _ := omenProblems(omens("late", w1, w2), rituals, false)
	reportProblems(t, "omens", problems)
	reportProblems(t, "stream", takeCensus(ctx, t, rdb, f.stream).exactlyOnce(ritualKeys("late", rituals), seanceTypes, false))
	checkDrained(ctx, t, rdb, f.stream)
	for _, w := range []*workertest.Proc{w1, w2} {
		stderr := w.Stderr()
		if len(logLines(stderr, "cannot reach the server yet")) != 1 {
			t.Errorf("%s: want one warning that Redis is not reachable yet\n%s", w, workertest.Tail(stderr, 10))
		}
		if n := len(logLines(stderr, "pull failed")); n != 1 {
			t.Errorf("%s: %d \"pull failed\" lines at Warn, want 1 for the outage", w, n)
		}
		recovered := logLines(stderr, "pull recovered")
		if len(recovered) != 1 {
			t.Errorf("%s: %d \"pull recovered\" lines, want 1", w, len(recovered))
			continue
		}
		// Backing off from 50ms, doubling up to 5s: a handful of attempts
		// in a few seconds, where a busy loop would make thousands.
		failures, _ := recovered[0]["failures"].(float64)
		if failures < 1 || failures > 20 {
			t.Errorf("%s: %v failed pulls while Redis was down for %v; want a few (backoff)", w, failures, down)
		}
		t.Logf("%s: %v failed pulls before Redis came up", w.Name(), failures)
	}
}

// waitBusy waits until the group has acknowledged a tenth of the entries
// a run of the given number of rituals makes (four per ritual), and checks
// that a quarter at least is still to do: the moment to inject a fault. It
// returns the entries acknowledged so far.
//
// Redis, not the workers' output, measures the progress: the stream is
// FIFO, so a backlog is worked through stage by stage, and omens are printed
// only in the last quarter of the run.
func waitBusy(ctx context.Context, t *testing.T, f *fleet, rituals int) int64 {
	t.Helper()
	total := int64(4 * rituals)
	var acked int64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for acked < total/10 {
		f.alive()
		g, err := redisGroup(ctx, f)
		if err == nil {
			acked = g.EntriesRead - g.Pending
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for the workers to start: %d/%d entries acknowledged", acked, total)
		case <-tick.C:
		}
	}
	if acked > total*3/4 {
		t.Fatalf("the run was past its middle (%d/%d entries acknowledged) before the fault could be injected: make it longer", acked, total)
	}
	return acked
}

// redisGroup returns what XINFO GROUPS says of the fleet's group.
func redisGroup(ctx context.Context, f *fleet) (goredis.XInfoGroup, error) {
	groups, err := f.rdb.XInfoGroups(ctx, f.stream).Result()
	if err != nil {
		return goredis.XInfoGroup{}, err
	}
	for _, g := range groups {
		if g.Name == group {
			return g, nil
		}
	}
	return goredis.XInfoGroup{}, fmt.Errorf("no group %q on %s", group, f.stream)
}
