package e2e_test

import (
	"testing"
	"time"

	"github.com/necrostack/necrostack/e2e/redisenv"
)

// Scenario 4. A worker is killed with SIGKILL in the middle of a run, with
// entries read and not acknowledged. The survivor reclaims them once they
// have been idle for the claim time (-claim-min-idle, 30s by default), and
// finishes the run: every ritual's omen is printed, nothing is pending for
// the dead worker, and the stream holds each event exactly once (a reclaim
// moves an entry, it does not copy it; the dead worker's unfinished commits
// wrote nothing).
func TestWorkerKilled(t *testing.T) {
	t.Parallel()
	ctx := scenario(t, 3*time.Minute)
	r := redisenv.Start(t, redisenv.Config{})
	const rituals = 2000
	f := newFleet(t, "seance", r, "e2e:seance")
	rdb := f.rdb
	f.emitSeance(ctx, "reclaim", rituals)
	// A shorter claim time than the default (30s) shortens the wait.
	claim := []string{"-claim-min-idle", "5s"}
	victim, survivor := f.worker("medium-1", claim...), f.worker("medium-2", claim...)

	acked := waitBusy(ctx, t, f, rituals)
	if n, err := f.connections(ctx, "medium-1"); err != nil || n == 0 {
		t.Fatalf("Redis lists %d connections of the victim (%v), want some: nothing would tell when they are gone", n, err)
	}
	f.kill(victim)
	// What the victim had written to its sockets before it died may still
	// run in Redis (a commit batch, up to 256 entries) until Redis has
	// closed its connections. After that, nothing moves its pending count
	// before the claim time.
	f.waitDisconnected(ctx, "medium-1")
	st, err := stateOf(ctx, rdb, f.stream)
	if err != nil {
		t.Fatal(err)
	}
	orphans := st.byConsumer["medium-1"]
	t.Logf("victim killed after %d/%d entries were acknowledged, leaving %d pending (group: %s)", acked, 4*rituals, orphans, st)
	if orphans == 0 {
		t.Fatal("the victim left nothing pending: nothing to reclaim")
	}

	start := time.Now()
	f.waitRun(ctx, "the survivor to finish the run", "reclaim", rituals, victim, survivor)
	t.Logf("run finished %v after the kill", time.Since(start).Round(time.Millisecond))
	f.stop()

	problems, repeats := omenProblems(omens("reclaim", victim, survivor), rituals, true)
	reportProblems(t, "omens", problems)
	t.Logf("omens printed twice (the victim printed, then died before its commit: allowed): %d", repeats)
	reportProblems(t, "stream", takeCensus(ctx, t, rdb, f.stream).exactlyOnce(ritualKeys("reclaim", rituals), seanceTypes, false))
	checkDrained(ctx, t, rdb, f.stream)
	if n := dlqLen(ctx, t, rdb, f.stream); n != 0 {
		t.Errorf("dead letters: %d, want 0", n)
	}
	reclaimed := 0
	for _, l := range logLines(survivor.Stderr(), "reclaimed a stuck entry") {
		if l["from_consumer"] == "medium-1" {
			reclaimed++
		}
	}
	if int64(reclaimed) != orphans {
		t.Errorf("survivor reclaimed %d entries of the victim, want the %d it left pending", reclaimed, orphans)
	}
}

// Scenario 8. A worker is stopped with SIGTERM in the middle of a run. It
// finishes the rituals in flight, commits them, hands back what it had read
// but not started, and exits 0 with nothing pending in its name. The other
// worker finishes the run: every ritual yields exactly one omen (nothing was
// handled twice) and one event of each type.
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	ctx := scenario(t, 2*time.Minute)
	r := redisenv.Start(t, redisenv.Config{})
	const rituals = 2000
	f := newFleet(t, "seance", r, "e2e:seance")
	rdb := f.rdb
	f.emitSeance(ctx, "graceful", rituals)
	leaver, stayer := f.worker("medium-1"), f.worker("medium-2")

	acked := waitBusy(ctx, t, f, rituals)
	f.stop(leaver)
	st, err := stateOf(ctx, rdb, f.stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.byConsumer["medium-1"]; n != 0 {
		t.Errorf("after a graceful stop, %d entries are still pending for the leaver; want 0 (group: %s)", n, st)
	}
	t.Logf("leaver stopped (SIGTERM after %d/%d entries were acknowledged) having printed %d omens; group: %s",
		acked, 4*rituals, len(omensOf(leaver.Stdout(), "graceful")), st)

	f.waitRun(ctx, "the stayer to finish the run", "graceful", rituals, leaver, stayer)
	f.stop()

	problems, _ := omenProblems(omens("graceful", leaver, stayer), rituals, false)
	reportProblems(t, "omens", problems)
	// Entries the leaver had read but not started went back to the stream
	// as new entries holding the same event: one event, maybe two entries.
	c := takeCensus(ctx, t, rdb, f.stream)
	reportProblems(t, "stream", c.exactlyOnce(ritualKeys("graceful", rituals), seanceTypes, true))
	handedBack := 0
	for _, byType := range c {
		for _, tl := range byType {
			handedBack += tl.entries - len(tl.ids)
		}
	}
	t.Logf("entries handed back to the stream at the leaver's shutdown: %d", handedBack)
	checkDrained(ctx, t, rdb, f.stream)
	if n := dlqLen(ctx, t, rdb, f.stream); n != 0 {
		t.Errorf("dead letters: %d, want 0", n)
	}
	if len(logLines(leaver.Stderr(), "stopped")) != 1 {
		t.Errorf("the leaver did not log its orderly stop")
	}
}
