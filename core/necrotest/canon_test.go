package necrotest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// tree is a chain with fan-out at two levels, ids and times in payloads,
// and a dead letter: ORDER → 3 LINE (each naming its order and a fresh
// UUID of its own) → BILL for each line; the Auditor fails every BILL of
// line 2.
func tree() []core.Organ {
	split := core.OrganFunc("Splitter", []string{"ORDER"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		var out []core.Event
		for i := range 3 {
			out = append(out, core.MustEvent("LINE", map[string]any{"order": e.ID(), "line": i, "sku": uuid.NewString()}))
		}
		return out, nil
	})
	bill := core.OrganFunc("Biller", []string{"LINE"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		var line struct{ Line int }
		if err := e.DecodePayload(&line); err != nil {
			return nil, err
		}
		return core.Emit(core.MustEvent("BILL", map[string]any{"line": line.Line, "at": time.Now().UTC()})), nil
	})
	audit := core.OrganFunc("Auditor", []string{"BILL"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		if strings.Contains(string(e.Payload()), `"line":2`) {
			return nil, fmt.Errorf("bill %s does not add up", e.ID())
		}
		return nil, nil
	})
	return []core.Organ{split, bill, audit}
}

const treeCanonical = `e1 ORDER {"n":1}
  e2 LINE <- Splitter {"line":0,"order":"e1","sku":"u1"}
    e3 BILL <- Biller {"at":"<time>","line":0}
  e4 LINE <- Splitter {"line":1,"order":"e1","sku":"u2"}
    e5 BILL <- Biller {"at":"<time>","line":1}
  e6 LINE <- Splitter {"line":2,"order":"e1","sku":"u3"}
    e7 BILL <- Biller {"at":"<time>","line":2}
dead e7 BILL organ=Auditor reason=handler_failed attempts=2: bill e7 does not add up
call Splitter e1 #1: emitted 3
call Biller e2 #1: emitted 1
call Auditor e3 #1: emitted 0
call Biller e4 #1: emitted 1
call Auditor e5 #1: emitted 0
call Biller e6 #1: emitted 1
call Auditor e7 #1: error: bill e7 does not add up
call Auditor e7 #2: error: bill e7 does not add up
`

// The canonical form names ids in order, masks UUIDs and times in
// payloads and errors, and is the same on every run.
func TestCanonical(t *testing.T) {
	t.Parallel()
	for range 3 {
		seed := core.MustEvent("ORDER", map[string]int{"n": 1})
		tr, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxAttempts: 2}, tree(), seed)
		if err != nil {
			t.Fatal(err)
		}
		if got := tr.Canonical(); got != treeCanonical {
			t.Fatalf("canonical form:\n%s\nwant:\n%s", got, treeCanonical)
		}
	}
}

// At Concurrency 4, and with the pull order shuffled, the events are
// enqueued in other orders, but their lineage is the same, and so is the
// canonical form.
func TestCanonicalIsAPartialOrder(t *testing.T) {
	t.Parallel()
	seeds := func() []core.Event {
		return []core.Event{core.MustEvent("ORDER", map[string]int{"n": 1}), core.MustEvent("ORDER", map[string]int{"n": 2})}
	}
	base, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxAttempts: 2}, tree(), seeds()...)
	if err != nil {
		t.Fatal(err)
	}
	want := base.Canonical()
	orders := map[string]bool{strings.Join(base.Types(), " "): true}
	for _, c := range []necrotest.Config{
		{Shuffle: 1}, {Shuffle: 2}, {Shuffle: 3}, {Shuffle: 4},
		{Concurrency: 4}, {Concurrency: 4, Shuffle: 7}, {Concurrency: 8, Shuffle: 8},
	} {
		c.MaxAttempts = 2
		tr, err := necrotest.RunWith(context.Background(), c, tree(), seeds()...)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if len(tr.Records) != 14 || len(tr.DeadLetters) != 2 || tr.Steps != 14 {
			t.Fatalf("%+v: %d records, %d dead letters, %d steps; want 14, 2, 14\n%s", c, len(tr.Records), len(tr.DeadLetters), tr.Steps, tr)
		}
		if got := tr.Canonical(); got != want {
			t.Errorf("%+v: canonical form differs from the sequential run's:\n%s\nwant:\n%s", c, got, want)
		}
		orders[strings.Join(tr.Types(), " ")] = true
	}
	if len(orders) < 2 {
		t.Errorf("every run enqueued the events in the same order %v: the shuffle changed nothing", orders)
	}
}

// A shuffle seed gives the same order on every run at Concurrency 1, and
// another seed another order.
func TestShuffleIsReproducible(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []int {
		organs := []core.Organ{fanout("Split", "ROOT", "LEAF", 6), sink("Sink", "LEAF")}
		tr, err := necrotest.RunWith(context.Background(), necrotest.Config{Shuffle: seed}, organs, core.MustEvent("ROOT", nil))
		if err != nil {
			t.Fatal(err)
		}
		var order []int // the LEAFs in the order the Sink got them
		for _, c := range tr.Calls {
			if c.Organ == "Sink" {
				var p struct{ I int }
				r, _ := tr.Find(c.Event)
				if err := r.Event.DecodePayload(&p); err != nil {
					t.Fatal(err)
				}
				order = append(order, p.I)
			}
		}
		return order
	}
	fifo := run(0)
	if !slices.Equal(fifo, []int{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("without a shuffle the leaves were handled in order %v, want FIFO", fifo)
	}
	differs := false
	for seed := uint64(1); seed <= 5; seed++ {
		a, b := run(seed), run(seed)
		if !slices.Equal(a, b) {
			t.Errorf("shuffle %d: %v then %v", seed, a, b)
		}
		differs = differs || !slices.Equal(a, fifo)
	}
	if !differs {
		t.Error("five shuffle seeds all gave the FIFO order")
	}
}

// With Times, the canonical form carries offsets: under synctest they are
// the organs' virtual durations, the same on every run.
func TestCanonicalTimes(t *testing.T) {
	t.Parallel()
	var forms []string
	for range 2 {
		synctest.Test(t, func(t *testing.T) {
			seed := core.MustEvent("ORDER", map[string]int{"n": 1})
			biller := necrotest.NewFake("Biller").Takes(time.Second).Do(func(context.Context, core.Event) ([]core.Event, error) {
				return core.Emit(core.MustEvent("BILL", map[string]any{"at": time.Now().UTC()})), nil
			})
			organs := necrotest.Replace(t, tree(), biller)
			tr, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxAttempts: 1}, organs, seed)
			if err != nil {
				t.Fatal(err)
			}
			forms = append(forms, tr.Canonical(necrotest.Times()))
		})
	}
	if forms[0] != forms[1] {
		t.Fatalf("two runs in virtual time differ:\n%s\n%s", forms[0], forms[1])
	}
	for _, want := range []string{
		"e1 ORDER +0s {\"n\":1}",
		"e3 BILL <- Biller +1s {\"at\":\"+1s\"}",
		"e7 BILL <- Biller +3s {\"at\":\"+3s\"}",
		"call Biller e6 #1 at +2s: emitted 1",
	} {
		if !strings.Contains(forms[0], want) {
			t.Errorf("canonical form with times lacks %q:\n%s", want, forms[0])
		}
	}
}

// Golden compares with the file, writes it under -update (here
// NECROTEST_UPDATE), and on a difference fails with a line diff and the
// chain drawn.
func TestGolden(t *testing.T) {
	path := t.TempDir() + "/sub/order.golden"
	run := func(n int) *necrotest.Trace {
		tr, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxAttempts: 2}, tree(), core.MustEvent("ORDER", map[string]int{"n": n}))
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	failed, stopped := stops(t, func(tb testing.TB) { run(1).Golden(tb, path) })
	if !stopped || len(failed) != 1 || !strings.Contains(failed[0], "does not exist; run go test -update") {
		t.Fatalf("missing golden file: stopped %v, failures %q", stopped, failed)
	}
	t.Setenv("NECROTEST_UPDATE", "1")
	if failed, stopped := stops(t, func(tb testing.TB) { run(1).Golden(tb, path) }); stopped || len(failed) != 0 {
		t.Fatalf("-update: stopped %v, failures %q", stopped, failed)
	}
	t.Setenv("NECROTEST_UPDATE", "0")
	if failed, stopped := stops(t, func(tb testing.TB) { run(1).Golden(tb, path) }); stopped || len(failed) != 0 {
		t.Fatalf("the same chain again: stopped %v, failures %q", stopped, failed)
	}
	failed, stopped = stops(t, func(tb testing.TB) { run(2).Golden(tb, path) })
	if stopped || len(failed) != 1 {
		t.Fatalf("another chain: stopped %v, failures %q; want one failure, not stopped", stopped, failed)
	}
	for _, want := range []string{"- e1 ORDER {\"n\":1}", "+ e1 ORDER {\"n\":2}", "  e2 LINE <- Splitter", "flowchart TD"} {
		if !strings.Contains(failed[0], want) {
			t.Errorf("the failure lacks %q:\n%s", want, failed[0])
		}
	}
}

// Mermaid draws the chain: a node per event in canonical names, arrows
// labelled with the emitting organ, a node per dead letter.
func TestMermaid(t *testing.T) {
	t.Parallel()
	tr, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxAttempts: 2},
		[]core.Organ{fanout("Split", "ROOT", "LEAF", 2), failing("Sink", "LEAF")}, core.MustEvent("ROOT", nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `flowchart TD
  e1["e1 ROOT"]
  e2["e2 LEAF"]
  e3["e3 LEAF"]
  e1 -->|"Split"| e2
  e1 -->|"Split"| e3
  d1{{"✗ Sink: handler_failed, 2 attempts"}}:::dead
  e2 -.-> d1
  d2{{"✗ Sink: handler_failed, 2 attempts"}}:::dead
  e3 -.-> d2
  classDef dead fill:#fdd,stroke:#c00,color:#600
`
	if got := tr.Mermaid(); got != want {
		t.Errorf("Mermaid:\n%s\nwant:\n%s", got, want)
	}
	failed, _ := stops(t, func(tb testing.TB) { tr.RequireChain(tb, tr.Records[0].Event.ID(), "LEAF") })
	if len(failed) != 1 || !strings.Contains(failed[0], "chain (Mermaid):\n"+want) {
		t.Errorf("RequireChain's failure does not draw the chain: %q", failed)
	}
}

// A Config.Backend must be able to commit atomically and to release.
func TestRunWithRefusesABackendWithoutCommit(t *testing.T) {
	t.Parallel()
	_, err := necrotest.RunWith(context.Background(), necrotest.Config{Backend: pullOnly{}}, chain(), core.MustEvent("ASK", nil))
	if err == nil || !strings.Contains(err.Error(), "is not a core.Committer") {
		t.Errorf("RunWith over a backend without Commit: %v", err)
	}
}

type pullOnly struct{}

func (pullOnly) Enqueue(context.Context, core.Event) error { return nil }
func (pullOnly) Pull(context.Context, time.Duration) (core.Delivery, bool, error) {
	return core.Delivery{}, false, nil
}
func (pullOnly) Ack(context.Context, core.Delivery) error { return nil }

// At Concurrency 3 in virtual time, six one-second calls take two seconds:
// the harness's queue waits for what is in flight without polling, so the
// bubble's clock can move.
func TestConcurrencyInVirtualTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		slow := necrotest.NewFake("Sink").Takes(time.Second)
		organs := necrotest.Replace(t, []core.Organ{fanout("Split", "ROOT", "LEAF", 6), sink("Sink", "LEAF")}, slow)
		start := time.Now()
		tr, err := necrotest.RunWith(context.Background(), necrotest.Config{Concurrency: 3}, organs, core.MustEvent("ROOT", nil))
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 2*time.Second {
			t.Errorf("six 1 s calls, three at a time, took %v of virtual time; want 2s", took)
		}
		slow.AssertTimes(t, 6)
		tr.RequireCount(t, "LEAF", 6)
	})
}

// An organ that emits its input again loops until MaxSteps; the event is
// then its own child in the trace, and the canonical form and the drawing
// still end. Keys are canonical like ids.
func TestCanonicalOfALoop(t *testing.T) {
	t.Parallel()
	again := core.OrganFunc("Again", []string{"PING"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		return []core.Event{e}, nil
	})
	seed := mustBuild(t, core.EventInit{Type: "PING", Key: "order-" + uuid.NewString()})
	tr, err := necrotest.RunWith(context.Background(), necrotest.Config{MaxSteps: 3}, []core.Organ{again}, seed)
	if err == nil {
		t.Fatal("a loop ran to the end")
	}
	got := tr.Canonical()
	if !strings.HasPrefix(got, "e1 PING key=\"order-u1\" {}\n") || !strings.Contains(got, "error: max steps exceeded") {
		t.Errorf("canonical form of a loop:\n%s", got)
	}
	if m := tr.Mermaid(); !strings.Contains(m, `e1["e1 PING"]`) {
		t.Errorf("drawing of a loop:\n%s", m)
	}
}

// Shuffle orders the in-process queue only.
func TestRunWithRefusesShuffleOverABackend(t *testing.T) {
	t.Parallel()
	_, err := necrotest.RunWith(context.Background(), necrotest.Config{Backend: pullOnly{}, Shuffle: 1}, chain(), core.MustEvent("ASK", nil))
	if err == nil || !strings.Contains(err.Error(), "Config.Shuffle") {
		t.Errorf("RunWith with Shuffle over a backend: %v", err)
	}
}

// A golden file checked out with CRLF line ends still matches.
func TestGoldenWithCRLF(t *testing.T) {
	t.Parallel()
	tr := necrotest.Run(t, chain(), core.MustEvent("ASK", nil))
	path := filepath.Join(t.TempDir(), "ask.golden")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(tr.Canonical(), "\n", "\r\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if failed, stopped := stops(t, func(tb testing.TB) { tr.Golden(tb, path) }); stopped || len(failed) != 0 {
		t.Errorf("CRLF golden file: %q", failed)
	}
}
