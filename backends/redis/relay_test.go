package redis_test

import (
	"fmt"
	"testing"
	"time"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

// Events emitted for another partition go through the outbox: relays that
// die between writing them to their partition and deleting them from the
// outbox, twice, leave each event written once, and the next relay
// finishes the job.
func TestRelayDiesBetweenWrites(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	rdb := inspect(t, srv.Addr())
	pb := newPartitioned(t, nsredis.Config{URL: srv.URL(), Stream: "relay"}, 4)
	src, dst := 0, 0
	var from, to string
	for i := 0; from == "" || to == ""; i++ {
		k := fmt.Sprint("k", i)
		switch p := nsredis.PartitionOf(k, 4); {
		case from == "":
			from, src = k, p
		case p != src:
			to, dst = k, p
		}
	}
	part := pb.Partitions()[src]
	// commit handles n inputs of from's partition, each emitting an event
	// for to's, straight on the partition's backend (no relay runs yet).
	var want []string
	commit := func(n int) {
		t.Helper()
		for i := range n {
			in, err := core.Build(core.EventInit{Type: "IN", Key: from, Payload: map[string]int{"i": i}})
			if err != nil {
				t.Fatal(err)
			}
			if err := part.Enqueue(ctx, in); err != nil {
				t.Fatal(err)
			}
			d := mustPull(t, part)
			out, err := core.Build(core.EventInit{Type: "OUT", Key: to, Payload: map[string]int{"i": i}})
			if err != nil {
				t.Fatal(err)
			}
			if err := part.Commit(ctx, d, core.Outcome{Emitted: []core.Event{out}}); err != nil {
				t.Fatal(err)
			}
			want = append(want, out.ID())
		}
	}
	outbox := part.Config().Stream + ":outbox"
	commit(5)
	if n := streamLen(t, rdb, outbox); n != 5 {
		t.Fatalf("outbox holds %d, want 5", n)
	}
	if err := nsredis.RelayAndDie(ctx, pb, src); err != nil {
		t.Fatal(err)
	}
	commit(3)
	if err := nsredis.RelayAndDie(ctx, pb, src); err != nil {
		t.Fatal(err)
	}
	target := pb.Partitions()[dst].Config().Stream
	if n := streamLen(t, rdb, target); n != 8 {
		t.Errorf("after two relays that died: %s holds %d, want 8 (each once)", target, n)
	}
	// A relay that lives: the backend's own, which starts with its first
	// Pull, and deletes what it relays.
	go func() { _, _, _ = pb.Pull(ctx, 10*time.Millisecond) }()
	eventually(t, 10*time.Second, "the outbox emptied", func() bool { return streamLen(t, rdb, outbox) == 0 })
	msgs, err := rdb.XRange(ctx, target, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		e, err := core.DecodeEventString(m.Values["event"].(string))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.ID())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s holds %v, want each emitted event once, in order: %v", target, got, want)
	}
}
