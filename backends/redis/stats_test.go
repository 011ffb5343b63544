package redis_test

import (
	"testing"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

// Stats reports the stream, its dead letters and every group on it, with
// each group's pending entries, lag and consumers.
func TestStats(t *testing.T) {
	srv := redistest.Start(t)
	rdb := inspect(t, srv.Addr())
	ctx := ctxT(t)
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "me", Batch: 1})
	for i := range 5 {
		if err := b.Enqueue(ctx, ev(t, "E", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XGroupCreate(ctx, stream, "audit", "0").Err(); err != nil {
		t.Fatal(err)
	}
	d := mustPull(t, b) // reads one, and hands it out
	if err := b.Commit(ctx, d, core.Outcome{DeadLetters: []core.DeadLetter{{Event: d.Event, Reason: "test"}}}); err != nil {
		t.Fatal(err)
	}
	readAs(t, rdb, "other", 1)
	st, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stream != stream || st.Length != 5 || st.Added != 5 || st.DeadLetters != 1 || len(st.Groups) != 2 {
		t.Fatalf("stats %+v", st)
	}
	byName := map[string]nsredis.GroupStats{}
	for _, g := range st.Groups {
		byName[g.Name] = g
	}
	audit, ours := byName["audit"], byName[nsredis.DefaultGroup]
	if audit.Lag != 5 || audit.Pending != 0 || len(audit.Consumers) != 0 {
		t.Errorf("the audit group: %+v, want a lag of 5, nothing pending, no consumer", audit)
	}
	pend, err := rdb.XPending(ctx, stream, nsredis.DefaultGroup).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ours.Pending != pend.Count || ours.Lag+ours.Pending+1 != 5 || len(ours.Consumers) != 2 {
		t.Errorf("our group: %+v (XPENDING says %d pending): want lag + pending + 1 acknowledged = 5, two consumers", ours, pend.Count)
	}
}

// Added counts what the stream was ever given, trimmed to nothing or not.
func TestStatsAddedSurvivesTrim(t *testing.T) {
	srv := redistest.Start(t)
	rdb := inspect(t, srv.Addr())
	ctx := ctxT(t)
	b := newBackend(t, nsredis.Config{URL: srv.URL()})
	for i := range 4 {
		if err := b.Enqueue(ctx, ev(t, "E", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XTrimMaxLen(ctx, stream, 0).Err(); err != nil {
		t.Fatal(err)
	}
	st, err := b.Stats(ctx)
	if err != nil || st.Length != 0 || st.Added != 4 {
		t.Errorf("after trimming all: %+v, %v; want length 0, 4 added", st, err)
	}
}
