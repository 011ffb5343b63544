package redis_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

// The Inspector finds the NecroStack streams among a server's keys (not
// their dead-letter streams, not other streams), reports each as
// Backend.Stats does, and lists pending entries by consumer, page after
// page; it creates no group on the streams it reads.
func TestInspector(t *testing.T) {
	srv := redistest.Start(t)
	rdb := inspect(t, srv.Addr())
	ctx := ctxT(t)
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "me", Batch: 1})
	for i := range 5 {
		if err := b.Enqueue(ctx, ev(t, "E", i)); err != nil {
			t.Fatal(err)
		}
	}
	d := mustPull(t, b)
	if err := b.Commit(ctx, d, core.Outcome{DeadLetters: []core.DeadLetter{{Event: d.Event, Reason: "test"}}}); err != nil {
		t.Fatal(err)
	}
	mustPull(t, b) // held by "me"
	readAs(t, rdb, "gone", 2)
	newBackend(t, nsredis.Config{URL: srv.URL(), Stream: "quiet:events"}) // a group, no entry
	for _, c := range []struct {
		key    string
		values []any
	}{
		{"metrics:raw", []any{"cpu", "0.5"}},    // a stream, not NecroStack's
		{"orphan:dlq", []any{"reason", "test"}}, // a dead-letter stream alone
	} {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: c.key, Values: c.values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Set(ctx, "a-string", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}

	in, err := nsredis.NewInspector(ctx, srv.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	streams, err := in.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{stream, "quiet:events"}; strings.Join(streams, ",") != strings.Join(want, ",") {
		t.Errorf("Streams: %q, want %q", streams, want)
	}
	st, err := in.Stats(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if st.Length != 5 || st.DeadLetters != 1 || len(st.Groups) != 1 || st.Groups[0].Pending != 3 || st.Groups[0].Lag != 1 {
		t.Errorf("Stats: %+v; want 5 entries, 1 dead letter, one group with 3 pending and a lag of 1", st)
	}
	all, err := in.Pending(ctx, stream, nsredis.DefaultGroup, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int{}
	for _, p := range all {
		by[p.Consumer]++
		if p.Deliveries != 1 || p.ID == "" {
			t.Errorf("pending %+v: want an id, delivered once", p)
		}
	}
	if len(all) != 3 || by["me"] != 1 || by["gone"] != 2 {
		t.Errorf("Pending: %+v; want 1 of me and 2 of gone", all)
	}
	if mine, err := in.Pending(ctx, stream, nsredis.DefaultGroup, "gone", 1); err != nil || len(mine) != 1 || mine[0].Consumer != "gone" {
		t.Errorf("Pending of gone, at most 1: %+v, %v", mine, err)
	}
	groups, err := rdb.XInfoGroups(ctx, "metrics:raw").Result()
	if err != nil || len(groups) != 0 {
		t.Errorf("the inspected foreign stream has groups %v (%v): the Inspector must write nothing", groups, err)
	}
}

// Pending pages through more entries than one XPENDING returns.
func TestInspectorPendingPages(t *testing.T) {
	srv := redistest.Start(t)
	rdb := inspect(t, srv.Addr())
	ctx := ctxT(t)
	newBackend(t, nsredis.Config{URL: srv.URL()}) // the group
	pipe := rdb.Pipeline()
	for range 2_345 {
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"event", "{}"}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	readAs(t, rdb, "w1", 2_345)
	in, err := nsredis.NewInspector(ctx, srv.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	all, err := in.Pending(ctx, stream, nsredis.DefaultGroup, "", 0)
	if err != nil || len(all) != 2_345 {
		t.Fatalf("Pending: %d entries, %v; want 2,345", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID == all[i-1].ID {
			t.Fatalf("entry %s listed twice", all[i].ID)
		}
	}
	if some, err := in.Pending(ctx, stream, nsredis.DefaultGroup, "", 1_500); err != nil || len(some) != 1_500 {
		t.Errorf("Pending, at most 1,500: %d entries, %v", len(some), err)
	}
}

// Added counts what a stream was ever given, trimmed or not, as Stats does;
// a missing stream has had none.
func TestInspectorAdded(t *testing.T) {
	srv := redistest.Start(t)
	rdb := inspect(t, srv.Addr())
	ctx := ctxT(t)
	for range 3 {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"event", "{}"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XTrimMaxLen(ctx, stream, 0).Err(); err != nil {
		t.Fatal(err)
	}
	in, err := nsredis.NewInspector(ctx, srv.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st, err := in.Stats(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := in.Added(ctx, stream); err != nil || n != 3 || n != st.Added {
		t.Errorf("Added = %d, %v; want 3, as Stats says (%d)", n, err, st.Added)
	}
	if n, err := in.Added(ctx, "no-such-stream"); err != nil || n != 0 {
		t.Errorf("Added of a missing stream = %d, %v; want 0", n, err)
	}
}

// What the Inspector says of bad input names it: a key holding no stream,
// a missing group, a server that does not answer, a refused password.
func TestInspectorErrors(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	ctx := ctxT(t)
	url := "redis://:s3cret@" + srv.Addr()
	in, err := nsredis.NewInspector(ctx, url, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Password: "s3cret"})
	defer rdb.Close()
	if err := rdb.Set(ctx, "a-string", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		err  error
		want string
	}{
		{"no key", second(in.Stats(ctx, "nope")), "nope on redis://:xxxxx@" + srv.Addr() + ": no such stream (the key holds nothing)"},
		{"a string", second(in.Stats(ctx, "a-string")), "no such stream (the key holds a string)"},
	} {
		if !errors.Is(c.err, nsredis.ErrNoStream) || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrNoStream and %q", c.what, c.err, c.want)
		}
	}
	if _, err := in.Pending(ctx, "a-string", "g", "", 0); !errors.Is(err, nsredis.ErrNoStream) {
		t.Errorf("Pending of a string: %v", err)
	}
	if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "s", Values: []any{"event", "{}"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Pending(ctx, "s", "nobody", "", 0); !errors.Is(err, nsredis.ErrNoGroup) || err.Error() != `redis: s: no such group "nobody"` {
		t.Errorf("Pending of a missing group: %v", err)
	}

	if _, err := nsredis.NewInspector(ctx, "redis://127.0.0.1:1", 300*time.Millisecond); err == nil || errors.Is(err, core.ErrFatal) ||
		!strings.Contains(err.Error(), "redis://127.0.0.1:1") {
		t.Errorf("nobody there: %v, want a transient error naming the URL", err)
	}
	_, err = nsredis.NewInspector(ctx, "redis://:wrong@"+srv.Addr(), 0)
	if !errors.Is(err, core.ErrFatal) || !strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), "wrong@") {
		t.Errorf("a wrong password: %v, want a fatal WRONGPASS without the password", err)
	}
}

func second[T any](_ T, err error) error { return err }

// The Inspector lists dead letters, shows one, redrives some by id (not a
// malformed one, unless edited into a valid event), and purges others;
// each changes Redis exactly as it reports.
func TestInspectorDeadLetters(t *testing.T) {
	srv := redistest.Start(t)
	rdb := inspect(t, srv.Addr())
	ctx := ctxT(t)
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Batch: 1})
	var events []core.Event
	for i := range 3 {
		e := ev(t, "E", i)
		events = append(events, e)
		if err := b.Enqueue(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"event", "not json"}}).Err(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		d := mustPull(t, b)
		if err := b.Commit(ctx, d, core.Outcome{DeadLetters: []core.DeadLetter{{Event: d.Event, Organ: "Oracle", Reason: core.ReasonHandlerFailed, Error: "silent", Attempts: 3}}}); err != nil {
			t.Fatal(err)
		}
	}
	mustEmpty(t, b) // the junk: dead-lettered by the backend
	in, err := nsredis.NewInspector(ctx, srv.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dls, err := in.DeadLetters(ctx, stream, "", 0)
	if err != nil || len(dls) != 4 {
		t.Fatalf("DeadLetters: %d, %v; want 4", len(dls), err)
	}
	var good []string
	var junk string
	for _, dl := range dls {
		switch {
		case dl.Reason == nsredis.ReasonMalformed && dl.Raw != "" && dl.Event.IsZero():
			junk = dl.ID
		case dl.Organ == "Oracle" && dl.Attempts == 3 && !dl.Event.IsZero():
			good = append(good, dl.ID)
		default:
			t.Errorf("dead letter %+v", dl)
		}
	}
	if some, err := in.DeadLetters(ctx, stream, dls[0].ID, 2); err != nil || len(some) != 2 || some[0].ID != dls[1].ID {
		t.Errorf("DeadLetters after the first, at most 2: %+v, %v", some, err)
	}
	if dl, err := in.DeadLetter(ctx, stream, good[0]); err != nil || dl.Event.ID() != events[0].ID() {
		t.Errorf("DeadLetter %s: %+v, %v", good[0], dl, err)
	}
	if _, err := in.DeadLetter(ctx, stream, "1-1"); !errors.Is(err, nsredis.ErrNoDeadLetter) {
		t.Errorf("DeadLetter 1-1: %v, want ErrNoDeadLetter", err)
	}
	if _, err := in.Redrive(ctx, stream, "x"); err == nil || !strings.Contains(err.Error(), `"x": not an entry id`) {
		t.Errorf("Redrive x: %v", err)
	}

	before := streamLen(t, rdb, stream)
	moved, err := in.Redrive(ctx, stream, good[0], good[1], junk)
	if moved != 2 || !errors.Is(err, nsredis.ErrNotRedrivable) {
		t.Errorf("Redrive two good and the junk: moved %d, %v; want 2 and ErrNotRedrivable", moved, err)
	}
	if n := streamLen(t, rdb, stream); n != before+2 {
		t.Errorf("the stream has %d entries, want %d", n, before+2)
	}
	if n := streamLen(t, rdb, stream+":dlq"); n != 2 {
		t.Errorf("%d dead letters left, want 2 (a good one, the junk)", n)
	}
	if err := in.RedriveEdited(ctx, stream, junk, []byte(`{"event_type":"E"}`)); err == nil || !strings.Contains(err.Error(), "id") {
		t.Errorf("RedriveEdited with an invalid event: %v, want the reason", err)
	}
	if n := streamLen(t, rdb, stream+":dlq"); n != 2 {
		t.Errorf("a refused edit changed the dead letters: %d", n)
	}
	mended := ev(t, "E", 9)
	wire, _ := mended.MarshalJSON()
	if err := in.RedriveEdited(ctx, stream, junk, wire); err != nil {
		t.Fatalf("RedriveEdited: %v", err)
	}
	last, err := rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	if err != nil || len(last) != 1 || !strings.Contains(last[0].Values["event"].(string), mended.ID()) {
		t.Errorf("the stream's last entry %v (%v), want the mended event", last, err)
	}
	if n, err := in.Purge(ctx, stream, good[2], "1-1"); n != 1 || err != nil {
		t.Errorf("Purge: %d, %v; want 1", n, err)
	}
	if n := streamLen(t, rdb, stream+":dlq"); n != 0 {
		t.Errorf("%d dead letters left, want none", n)
	}
}

// Events reads a stream's entries either way, telling events from entries
// that are none; LastID and Follow read what comes after.
func TestInspectorEvents(t *testing.T) {
	srv := redistest.Start(t)
	rdb := inspect(t, srv.Addr())
	ctx := ctxT(t)
	b := newBackend(t, nsredis.Config{URL: srv.URL()})
	var ids []string
	for i := range 3 {
		e := ev(t, "E", i)
		ids = append(ids, e.ID())
		if err := b.Enqueue(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"event", "not json"}}).Err(); err != nil {
		t.Fatal(err)
	}
	in, err := nsredis.NewInspector(ctx, srv.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	all, err := in.Events(ctx, stream, false, 0)
	if err != nil || len(all) != 4 || all[0].Event.ID() != ids[0] || all[2].Event.ID() != ids[2] {
		t.Fatalf("Events, oldest first: %+v, %v", all, err)
	}
	if j := all[3]; !j.Event.IsZero() || j.Reason != nsredis.ReasonMalformed || j.Problem == "" || !strings.Contains(j.Raw, "not json") {
		t.Errorf("the junk entry: %+v", j)
	}
	newest, err := in.Events(ctx, stream, true, 2)
	if err != nil || len(newest) != 2 || newest[0].EntryID != all[3].EntryID || newest[1].Event.ID() != ids[2] {
		t.Errorf("Events, newest first, 2: %+v, %v", newest, err)
	}
	last, err := in.LastID(ctx, stream)
	if err != nil || last != all[3].EntryID {
		t.Fatalf("LastID: %q, %v; want %s", last, err, all[3].EntryID)
	}
	got, next, err := in.Follow(ctx, stream, last, 50*time.Millisecond)
	if err != nil || len(got) != 0 || next != last {
		t.Errorf("Follow with nothing new: %+v, %q, %v", got, next, err)
	}
	e := ev(t, "E", 9)
	if err := b.Enqueue(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, next, err = in.Follow(ctx, stream, last, time.Second)
	if err != nil || len(got) != 1 || got[0].Event.ID() != e.ID() || next != got[0].EntryID {
		t.Errorf("Follow: %+v, %q, %v; want the new event", got, next, err)
	}
	if _, err := in.LastID(ctx, "nowhere"); !errors.Is(err, nsredis.ErrNoStream) {
		t.Errorf("LastID of nowhere: %v", err)
	}
}

// On a cluster URL the inspector lists the streams of every master (six
// partitions over three), not a partition's outbox, and reads each one's
// stats from the master that holds it.
func TestInspectorOnACluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	ctx := ctxT(t)
	rdb := c.Client()
	pb := newPartitioned(t, nsredis.Config{Client: rdb, Stream: "inspected"}, 6)
	for range 12 {
		if err := pb.Enqueue(ctx, core.MustEvent("E", nil)); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	masters := map[string]bool{}
	for i := range 6 {
		s := nsredis.PartitionStream("inspected", i, 6)
		want = append(want, s)
		m, err := rdb.MasterForKey(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		masters[m.Options().Addr] = true
	}
	if len(masters) < 2 {
		t.Fatalf("the six partitions are on %d master(s): the test needs them spread", len(masters))
	}
	// An outbox entry looks like an event; it is no stream of its own.
	if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: want[0] + ":outbox", Values: []any{"target", 1, "event", "{}"}}).Err(); err != nil {
		t.Fatal(err)
	}
	addrs := c.Addrs()
	url := "redis://" + addrs[0] + "?cluster=true&addr=" + strings.Join(addrs[1:], "&addr=")
	in, err := nsredis.NewInspector(ctx, url, 0)
	if err != nil {
		t.Fatalf("NewInspector(%s): %v", url, err)
	}
	defer in.Close()
	got, err := in.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Streams on a cluster of %d masters: %v, want %v", len(masters), got, want)
	}
	for _, s := range got {
		st, err := in.Stats(ctx, s)
		if err != nil {
			t.Fatalf("Stats(%s): %v", s, err)
		}
		if st.Length != 2 {
			t.Errorf("%s holds %d entries, want 2", s, st.Length)
		}
	}
}
