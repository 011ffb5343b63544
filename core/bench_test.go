package core_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

type benchPayload struct {
	Ritual   int    `json:"ritual"`
	Seeker   string `json:"seeker"`
	Question string `json:"question"`
}

var benchKind = core.NewKind[benchPayload]("SUMMON_RITUAL")

func BenchmarkNewEvent(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := benchKind.New(benchPayload{Ritual: i, Seeker: "Mina", Question: "Who walks?"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalEvent(b *testing.B) {
	e := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"})
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = e.AppendJSON(buf[:0])
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	wire, _ := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"}).MarshalJSON()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := core.DecodeEvent(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKindDecode(b *testing.B) {
	e := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := benchKind.Decode(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKindDecodeWire decodes the payload of an event read off the wire,
// which carries only JSON: what an organ does behind a Redis backend.
func BenchmarkKindDecodeWire(b *testing.B) {
	wire, _ := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"}).MarshalJSON()
	e, err := core.DecodeEvent(wire)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := benchKind.Decode(e); err != nil {
			b.Fatal(err)
		}
	}
}

// benchQueue is a lean in-memory backend for the Spine benchmarks: FIFO,
// Pull blocks until an event or the timeout, Commit appends what was
// emitted. It records nothing, so what the benchmark measures is the
// Spine's own cost per event.
type benchQueue struct {
	mu    sync.Mutex
	items []core.Event
	wake  chan struct{}
}

func newBenchQueue() *benchQueue { return &benchQueue{wake: make(chan struct{})} }

func (q *benchQueue) Enqueue(_ context.Context, e core.Event) error {
	q.mu.Lock()
	q.items = append(q.items, e)
	q.signalLocked()
	q.mu.Unlock()
	return nil
}

func (q *benchQueue) signalLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

func (q *benchQueue) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	var deadline *time.Timer
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			e := q.items[0]
			q.items = q.items[1:]
			q.mu.Unlock()
			if deadline != nil {
				deadline.Stop()
			}
			return core.Delivery{Event: e}, true, nil
		}
		wake := q.wake
		q.mu.Unlock()
		if deadline == nil {
			deadline = time.NewTimer(timeout)
			defer deadline.Stop()
		}
		select {
		case <-wake:
		case <-deadline.C:
			return core.Delivery{}, false, nil
		case <-ctx.Done():
			return core.Delivery{}, false, ctx.Err()
		}
	}
}

func (q *benchQueue) Ack(context.Context, core.Delivery) error { return nil }

func (q *benchQueue) Commit(_ context.Context, _ core.Delivery, out core.Outcome) error {
	if len(out.Emitted) == 0 {
		return nil
	}
	q.mu.Lock()
	q.items = append(q.items, out.Emitted...)
	q.signalLocked()
	q.mu.Unlock()
	return nil
}

// benchBatchQueue adds CommitBatch, so the Spine commits in the background.
type benchBatchQueue struct{ *benchQueue }

func (q benchBatchQueue) CommitBatch(ctx context.Context, commits []core.Commit) []error {
	for _, c := range commits {
		_ = q.Commit(ctx, c.Delivery, c.Outcome)
	}
	return nil
}

var benchStages = []core.Kind[benchPayload]{
	benchKind,
	core.NewKind[benchPayload]("SPIRIT_APPEARED"),
	core.NewKind[benchPayload]("ANSWER_GENERATED"),
	core.NewKind[benchPayload]("OMEN_REVEALED"),
}

// benchChain is four organs relaying one event each down a chain of typed
// payloads, the shape of the séance.
func benchChain() []core.Organ {
	names := []string{"Summoner", "Medium", "Oracle", "Scribe"}
	organs := make([]core.Organ, len(names))
	for i, name := range names {
		from := benchStages[i]
		organs[i] = core.OrganFunc(name, []string{from.Type()}, func(_ context.Context, e core.Event) ([]core.Event, error) {
			p, err := from.Decode(e)
			if err != nil {
				return nil, core.Permanent(err)
			}
			if i+1 == len(benchStages) {
				return nil, nil
			}
			next, err := benchStages[i+1].New(p)
			if err != nil {
				return nil, err
			}
			return []core.Event{next}, nil
		})
	}
	return organs
}

// benchSpine runs b.N chains through a Spine over backend and reports
// handled events per second and allocations per handled event.
func benchSpine(b *testing.B, backend core.Backend, concurrency int) {
	benchSpineWith(b, backend, core.Config{Concurrency: concurrency})
}

// benchSpineWith is benchSpine with cfg's concurrency and hooks.
func benchSpineWith(b *testing.B, backend core.Backend, cfg core.Config) {
	cfg.MaxSteps, cfg.PullTimeout, cfg.Logger = core.NoStepLimit, time.Millisecond, quiet()
	s, err := core.NewSpine(backend, benchChain(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range b.N {
		if err := backend.Enqueue(ctx, benchKind.MustNew(benchPayload{Ritual: i, Seeker: "Mina", Question: "Who walks?"})); err != nil {
			b.Fatal(err)
		}
	}
	necrotest.RunBenchmark(b, s, int64(4*b.N))
}

// BenchmarkSpineChain measures the Spine's direct commit path: inline
// handling at Concurrency 1 (the fast path), the handler pool above.
func BenchmarkSpineChain(b *testing.B) {
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			benchSpine(b, newBenchQueue(), conc)
		})
	}
}

// BenchmarkSpineHooks is the chain without hooks (as BenchmarkSpineChain
// at concurrency 1), with an Observer whose hooks are all nil, and with
// every hook and a middleware that do nothing: the hooks cost nothing
// unless set, and what the Spine spends to call them when they are.
func BenchmarkSpineHooks(b *testing.B) {
	noop := &core.Observer{
		Pulled:        func(context.Context, core.Delivery) {},
		OrganStarted:  func(context.Context, string, core.Event, int) {},
		OrganFinished: func(context.Context, string, core.Event, int, []core.Event, time.Duration, error) {},
		Retried:       func(context.Context, string, core.Event, int, time.Duration, error) {},
		Committed:     func(context.Context, core.Delivery, core.Outcome, time.Duration, int) {},
		DeadLettered:  func(context.Context, core.DeadLetter) {},
		CommitFailed:  func(context.Context, core.Delivery, error, int) {},
		Released:      func(context.Context, core.Delivery) {},
	}
	pass := func(o core.Organ) core.Organ { return passOrgan{o} }
	for _, c := range []struct {
		name string
		cfg  core.Config
	}{
		{"none", core.Config{}},
		{"nil-hooks", core.Config{Observer: &core.Observer{}}},
		{"noop-hooks", core.Config{Observer: noop, Middleware: []core.Middleware{pass}}},
	} {
		b.Run(c.name, func(b *testing.B) { benchSpineWith(b, newBenchQueue(), c.cfg) })
	}
}

// passOrgan is a middleware's organ that only calls the one it wraps.
type passOrgan struct{ core.Organ }

func (p passOrgan) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	return p.Organ.Handle(ctx, e)
}

// BenchmarkSpineBatch measures the batched commit path of a BatchCommitter.
func BenchmarkSpineBatch(b *testing.B) {
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			benchSpine(b, benchBatchQueue{newBenchQueue()}, conc)
		})
	}
}

// BenchmarkDecodeEventString is DecodeEvent on a string, as the Redis
// backend decodes go-redis's replies.
func BenchmarkDecodeEventString(b *testing.B) {
	wire, _ := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"}).MarshalJSON()
	s := string(wire)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := core.DecodeEventString(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePayload is BenchmarkKindDecodeWire through DecodePayload,
// which finds the payload's codec by reflection.
func BenchmarkDecodePayload(b *testing.B) {
	wire, _ := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"}).MarshalJSON()
	e, err := core.DecodeEvent(wire)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var p benchPayload
		if err := e.DecodePayload(&p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPayload encodes the payload of an event built from a flat struct,
// which is encoded only when its JSON is wanted.
func BenchmarkPayload(b *testing.B) {
	e := benchKind.MustNew(benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"})
	b.ReportAllocs()
	for b.Loop() {
		_ = e.Payload()
	}
}

// benchEmitted returns events as the Spine emits them: with a parent, a
// chain and a key; with trace context too when traced.
func benchEmitted(b *testing.B) []struct {
	name string
	e    core.Event
} {
	init := core.EventInit{
		Type: "SPIRIT_APPEARED", ParentID: "7d444840-9dc0-11d1-b245-5ffdce74fad2",
		CorrelationID: "f47ac10b-58cc-4372-a567-0e02b2c3d479", Key: "hall-7",
		Payload: benchPayload{Ritual: 1, Seeker: "Mina", Question: "Who walks?"},
	}
	lineage, err := core.Build(init)
	if err != nil {
		b.Fatal(err)
	}
	init.Headers = map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tracestate":  "necro=00f067aa0ba902b7",
	}
	traced, err := core.Build(init)
	if err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		e    core.Event
	}{{"lineage", lineage}, {"traced", traced}}
}

// BenchmarkMarshalEventEmitted is BenchmarkMarshalEvent for emitted events.
func BenchmarkMarshalEventEmitted(b *testing.B) {
	for _, bb := range benchEmitted(b) {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = bb.e.AppendJSON(buf[:0])
			}
		})
	}
}

// BenchmarkDecodeEventStringEmitted is BenchmarkDecodeEventString for
// emitted events.
func BenchmarkDecodeEventStringEmitted(b *testing.B) {
	for _, bb := range benchEmitted(b) {
		b.Run(bb.name, func(b *testing.B) {
			s := string(bb.e.AppendJSON(nil))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := core.DecodeEventString(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
