package necrotel_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/necrotel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a Spine on the memory backend, instrumented, with what its spans
// and metrics recorded.
type rig struct {
	tel     *necrotel.Telemetry
	backend *memory.Backend
	spine   *core.Spine
	spans   *tracetest.SpanRecorder
	reader  *sdkmetric.ManualReader
}

func newRig(t *testing.T, parent bool, organs []core.Organ, cfg core.Config) *rig {
	t.Helper()
	r := &rig{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader(), backend: memory.New(memory.Config{})}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	tel, err := necrotel.New(necrotel.Config{Stream: "rites", Group: "mediums", TracerProvider: tp, MeterProvider: mp, Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	r.tel = tel
	cfg.PullTimeout = 20 * time.Millisecond
	cfg.Retry.InitialBackoff, cfg.Retry.MaxBackoff = time.Millisecond, time.Millisecond
	cfg.Logger = slog.New(slog.DiscardHandler)
	tel.Instrument(&cfg)
	if r.spine, err = core.NewSpine(r.backend, organs, cfg); err != nil {
		t.Fatal(err)
	}
	return r
}

// run sends seeds, each in a send span, and runs the Spine until idle.
func (r *rig) run(t *testing.T, seeds ...core.Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, e := range seeds {
		if err := r.tel.Send(ctx, r.backend, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.spine.RunUntilIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// séance is a three-hop chain: SUMMON → SPIRIT → OMEN.
func séance() []core.Organ {
	relay := func(name, from, to string) core.Organ {
		return core.OrganFunc(name, []string{from}, func(_ context.Context, e core.Event) ([]core.Event, error) {
			if to == "" {
				return nil, nil
			}
			return []core.Event{core.MustEvent(to, nil)}, nil
		})
	}
	return []core.Organ{relay("Summoner", "SUMMON", "SPIRIT"), relay("Medium", "SPIRIT", "OMEN"), relay("Scribe", "OMEN", "")}
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// byName groups spans by their names.
func byName(spans []sdktrace.ReadOnlySpan) map[string][]sdktrace.ReadOnlySpan {
	m := make(map[string][]sdktrace.ReadOnlySpan)
	for _, s := range spans {
		m[s.Name()] = append(m[s.Name()], s)
	}
	return m
}

// With Parent, a chain is one trace: send → process → create → process …,
// each span the child of the one before, with the semantic conventions'
// attributes.
func TestChainIsOneTraceWithParent(t *testing.T) {
	r := newRig(t, true, séance(), core.Config{})
	seed := core.MustEvent("SUMMON", nil)
	r.run(t, seed)

	spans := r.spans.Ended()
	names := byName(spans)
	if len(names["send rites"]) != 1 || len(names["process rites"]) != 3 || len(names["create rites"]) != 2 || len(names["settle rites"]) != 3 {
		t.Fatalf("spans: %d send, %d process, %d create, %d settle; want 1, 3, 2, 3", len(names["send rites"]), len(names["process rites"]), len(names["create rites"]), len(names["settle rites"]))
	}
	traceID := names["send rites"][0].SpanContext().TraceID()
	byID := make(map[trace.SpanID]sdktrace.ReadOnlySpan)
	for _, s := range spans {
		if s.SpanContext().TraceID() != traceID {
			t.Errorf("%s (%s) is in trace %s, want the seed's %s", s.Name(), attrs(s)["messaging.message.id"].AsString(), s.SpanContext().TraceID(), traceID)
		}
		byID[s.SpanContext().SpanID()] = s
	}
	want := map[string]trace.SpanKind{"send rites": trace.SpanKindProducer, "process rites": trace.SpanKindConsumer, "create rites": trace.SpanKindProducer, "settle rites": trace.SpanKindClient}
	for _, s := range spans {
		a := attrs(s)
		if s.SpanKind() != want[s.Name()] {
			t.Errorf("%s: kind %s, want %s", s.Name(), s.SpanKind(), want[s.Name()])
		}
		if a["messaging.system"].AsString() != "necrostack" || a["messaging.destination.name"].AsString() != "rites" {
			t.Errorf("%s: system %q, destination %q", s.Name(), a["messaging.system"].AsString(), a["messaging.destination.name"].AsString())
		}
		if a["messaging.message.conversation_id"].AsString() != seed.ID() {
			t.Errorf("%s: conversation id %q, want the chain's %s", s.Name(), a["messaging.message.conversation_id"].AsString(), seed.ID())
		}
		if a["messaging.message.id"].AsString() == "" {
			t.Errorf("%s: no messaging.message.id", s.Name())
		}
		op := a["messaging.operation.type"].AsString()
		if s.Name() != op+" rites" || a["messaging.operation.name"].AsString() != op {
			t.Errorf("%s: operation type %q, name %q", s.Name(), op, a["messaging.operation.name"].AsString())
		}
		switch s.Name() {
		case "process rites":
			if a["messaging.consumer.group.name"].AsString() != "mediums" || a["necrostack.organ"].AsString() == "" || a["necrostack.attempt"].AsInt64() != 1 {
				t.Errorf("process span: group %q, organ %q, attempt %d", a["messaging.consumer.group.name"].AsString(), a["necrostack.organ"].AsString(), a["necrostack.attempt"].AsInt64())
			}
			// Its parent is the span that produced its event: the send
			// for the seed, a create span for the others.
			p, ok := byID[s.Parent().SpanID()]
			if !ok || (p.Name() != "send rites" && p.Name() != "create rites") || attrs(p)["messaging.message.id"] != a["messaging.message.id"] {
				t.Errorf("process span of %s: parent %v, want the producer span of that event", a["messaging.message.id"].AsString(), p)
			}
		case "create rites":
			if p, ok := byID[s.Parent().SpanID()]; !ok || p.Name() != "process rites" {
				t.Errorf("create span: parent %v, want a process span", p)
			}
		}
	}
}

// By default a process span starts a trace of its own, linked to the span
// that produced its event.
func TestProcessSpanLinksByDefault(t *testing.T) {
	r := newRig(t, false, séance(), core.Config{})
	r.run(t, core.MustEvent("SUMMON", nil))

	spans := r.spans.Ended()
	producers := make(map[string]trace.SpanContext) // message id → producer span
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindProducer {
			producers[attrs(s)["messaging.message.id"].AsString()] = s.SpanContext()
		}
	}
	processed := 0
	for _, s := range spans {
		if s.Name() != "process rites" {
			continue
		}
		processed++
		id := attrs(s)["messaging.message.id"].AsString()
		links := s.Links()
		if len(links) != 1 || links[0].SpanContext.SpanID() != producers[id].SpanID() {
			t.Errorf("process span of %s: links %v, want one to its producer span %s", id, links, producers[id].SpanID())
		}
		if s.Parent().IsValid() || s.SpanContext().TraceID() == producers[id].TraceID() {
			t.Errorf("process span of %s: parent %v, trace %s; want a root of a trace of its own", id, s.Parent(), s.SpanContext().TraceID())
		}
	}
	if processed != 3 {
		t.Errorf("%d process spans, want 3", processed)
	}
}

// collect returns the metrics recorded, by name.
func (r *rig) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]metricdata.Metrics)
	for _, sm := range rm.ScopeMetrics {
		for _, x := range sm.Metrics {
			m[x.Name] = x
		}
	}
	return m
}

// sum adds up a counter's points whose attributes include match.
func sum(t *testing.T, m metricdata.Metrics, match ...attribute.KeyValue) int64 {
	t.Helper()
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: %T, want an int64 sum", m.Name, m.Data)
	}
	var n int64
	for _, p := range s.DataPoints {
		if hasAll(p.Attributes, match) {
			n += p.Value
		}
	}
	return n
}

func hasAll(set attribute.Set, match []attribute.KeyValue) bool {
	for _, kv := range match {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// The metrics count what happened: calls handled and failed, retries, dead
// letters by organ and reason, messages consumed and sent, process
// durations, commit batch sizes.
func TestMetrics(t *testing.T) {
	fails := errors.New("the spirits are silent")
	organs := append(séance(), core.OrganFunc("Doubter", []string{"SPIRIT"}, func(context.Context, core.Event) ([]core.Event, error) {
		return nil, fails
	}))
	r := newRig(t, false, organs, core.Config{Retry: core.RetryPolicy{MaxAttempts: 2}})
	const rituals = 5
	seeds := make([]core.Event, 0, rituals+1)
	for range rituals {
		seeds = append(seeds, core.MustEvent("SUMMON", nil))
	}
	seeds = append(seeds, core.MustEvent("UNHEARD_OF", nil)) // no organ: unroutable
	r.run(t, seeds...)

	m := r.collect(t)
	organ := func(name string) attribute.KeyValue { return necrotel.AttrOrgan.String(name) }
	checks := []struct {
		what      string
		got, want int64
	}{
		{"handled by Summoner", sum(t, m[necrotel.MetricHandled], organ("Summoner")), rituals},
		{"handled by Medium", sum(t, m[necrotel.MetricHandled], organ("Medium")), rituals},
		{"handled by Scribe", sum(t, m[necrotel.MetricHandled], organ("Scribe")), rituals},
		{"handled by Doubter", sum(t, m[necrotel.MetricHandled], organ("Doubter")), 0},
		{"failed by Doubter", sum(t, m[necrotel.MetricFailed], organ("Doubter"), attribute.String("error.type", "*errors.errorString")), 2 * rituals},
		{"retried by Doubter", sum(t, m[necrotel.MetricRetried], organ("Doubter")), rituals},
		{"dead-lettered by Doubter", sum(t, m[necrotel.MetricDeadLettered], organ("Doubter"), necrotel.AttrReason.String(core.ReasonHandlerFailed)), rituals},
		{"dead-lettered unroutable", sum(t, m[necrotel.MetricDeadLettered], necrotel.AttrReason.String(core.ReasonUnroutable)), 1},
		{"consumed", sum(t, m[necrotel.MetricConsumed], attribute.String("messaging.consumer.group.name", "mediums")), 3*rituals + 1},
		{"sent: seeds", sum(t, m[necrotel.MetricSent], attribute.String("messaging.operation.name", "send")), rituals + 1 + 2*rituals},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	if got := r.spine.Stats(); got.Handled != 3*rituals || got.DeadLettered != rituals+1 {
		t.Errorf("Spine stats %+v disagree with the test's expectations", got)
	}
	hist, ok := m[necrotel.MetricProcessDuration].Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: %T", necrotel.MetricProcessDuration, m[necrotel.MetricProcessDuration].Data)
	}
	var calls uint64
	for _, p := range hist.DataPoints {
		calls += p.Count
	}
	if want := uint64(3*rituals + 2*rituals); calls != want {
		t.Errorf("%s: %d calls recorded, want %d", necrotel.MetricProcessDuration, calls, want)
	}
	if unit := m[necrotel.MetricProcessDuration].Unit; unit != "s" {
		t.Errorf("%s: unit %q, want s", necrotel.MetricProcessDuration, unit)
	}
	batches, ok := m[necrotel.MetricCommitBatch].Data.(metricdata.Histogram[int64])
	if !ok || len(batches.DataPoints) != 1 || batches.DataPoints[0].Count != 3*rituals+1 {
		t.Errorf("%s: %+v, want one commit per delivery", necrotel.MetricCommitBatch, m[necrotel.MetricCommitBatch].Data)
	}
}

// A failed call's process span says so: error status, error.type, the
// error recorded.
func TestFailedCallSpan(t *testing.T) {
	organ := core.OrganFunc("Skeptic", []string{"SUMMON"}, func(context.Context, core.Event) ([]core.Event, error) {
		return nil, core.Permanent(fmt.Errorf("no such thing as ghosts"))
	})
	r := newRig(t, false, []core.Organ{organ}, core.Config{})
	r.run(t, core.MustEvent("SUMMON", nil))
	for _, s := range r.spans.Ended() {
		if s.Name() != "process rites" {
			continue
		}
		if s.Status().Code.String() != "Error" || attrs(s)["error.type"].AsString() != "permanent" || len(s.Events()) != 1 {
			t.Errorf("failed call: status %v, error.type %q, %d events; want Error, permanent, the exception", s.Status(), attrs(s)["error.type"].AsString(), len(s.Events()))
		}
		return
	}
	t.Fatal("no process span")
}

// Instrument keeps an Observer already configured: both are told.
func TestInstrumentKeepsObserver(t *testing.T) {
	var pulled, committed int
	own := &core.Observer{
		Pulled:    func(context.Context, core.Delivery) { pulled++ },
		Committed: func(context.Context, core.Delivery, core.Outcome, time.Duration, int) { committed++ },
	}
	r := newRig(t, false, séance(), core.Config{Observer: own})
	r.run(t, core.MustEvent("SUMMON", nil))
	if pulled != 3 || committed != 3 {
		t.Errorf("the configured observer saw %d pulls, %d commits; want 3 and 3", pulled, committed)
	}
	if n := sum(t, r.collect(t)[necrotel.MetricConsumed]); n != 3 {
		t.Errorf("necrotel counted %d consumed, want 3", n)
	}
}

// With OpenTelemetry's no-op TracerProvider, Instrument makes no span:
// every metric is still counted, and the trace context and baggage an
// event carries pass on unchanged to the events emitted from it, as
// through an uninstrumented hop; events without any gain none.
func TestMetricsWithoutTracing(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	tel, err := necrotel.New(necrotel.Config{Stream: "rites", TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	cfg := core.Config{PullTimeout: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	tel.Instrument(&cfg)
	seen := map[string]int{} // traceparent + baggage at the chain's end → events
	organs := append(séance(), core.OrganFunc("Reader", []string{"OMEN"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		seen[e.Header("traceparent")+"|"+e.Header("baggage")]++
		return nil, nil
	}))
	b := memory.New(memory.Config{})
	spine, err := core.NewSpine(b, organs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const upstream = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	traced, err := core.Build(core.EventInit{Type: "SUMMON", Headers: map[string]string{"traceparent": upstream, "baggage": "room=7"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []core.Event{core.MustEvent("SUMMON", nil), core.MustEvent("SUMMON", nil), core.MustEvent("SUMMON", nil), core.MustEvent("SUMMON", nil), traced} {
		if err := tel.Send(ctx, b, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := spine.RunUntilIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if seen["|"] != 4 || seen[upstream+"|room=7"] != 1 {
		t.Errorf("headers at the chain's end: %v; want 4 without any, 1 with the seed's traceparent and baggage", seen)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, p := range s.DataPoints {
					got[m.Name] += p.Value
				}
			}
		}
	}
	if got[necrotel.MetricHandled] != 5*4 || got[necrotel.MetricConsumed] != 5*3 || got[necrotel.MetricSent] != 5+5*2 {
		t.Errorf("handled %d, consumed %d, sent %d; want 20, 15 and 15",
			got[necrotel.MetricHandled], got[necrotel.MetricConsumed], got[necrotel.MetricSent])
	}
}

// A seed that already carries a trace context (from another traced
// system) keeps it: Send's span is its child with Config.Parent, and links
// to it by default.
func TestSendContinuesUpstreamTrace(t *testing.T) {
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	seed, err := core.Build(core.EventInit{Type: "SUMMON", Headers: map[string]string{"traceparent": "00-" + traceID + "-" + spanID + "-01"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, parent := range []bool{true, false} {
		r := newRig(t, parent, séance(), core.Config{})
		r.run(t, seed)
		sends := byName(r.spans.Ended())["send rites"]
		if len(sends) != 1 {
			t.Fatalf("parent=%v: %d send spans", parent, len(sends))
		}
		s := sends[0]
		if parent && (s.SpanContext().TraceID().String() != traceID || s.Parent().SpanID().String() != spanID) {
			t.Errorf("with Parent: send span in trace %s, parent %s; want trace %s, parent %s", s.SpanContext().TraceID(), s.Parent().SpanID(), traceID, spanID)
		}
		if !parent && (len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID().String() != spanID || s.SpanContext().TraceID().String() == traceID) {
			t.Errorf("by default: send span in trace %s with links %v; want a trace of its own linked to span %s", s.SpanContext().TraceID(), s.Links(), spanID)
		}
	}
}

// ticketProp is a propagator of one header of its own, x-ticket, standing
// for B3 or Jaeger: a hop without tracing passes on what it carries.
type ticketProp struct{}

type ticketKey struct{}

func (ticketProp) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	if v, _ := ctx.Value(ticketKey{}).(string); v != "" {
		c.Set("x-ticket", v)
	}
}
func (ticketProp) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	if v := c.Get("x-ticket"); v != "" {
		return context.WithValue(ctx, ticketKey{}, v)
	}
	return ctx
}
func (ticketProp) Fields() []string { return []string{"x-ticket"} }

// Without tracing, the context passed on is the configured propagator's,
// not only W3C's.
func TestMetricsWithoutTracingUsePropagator(t *testing.T) {
	tel, err := necrotel.New(necrotel.Config{Stream: "rites", TracerProvider: tracenoop.NewTracerProvider(),
		MeterProvider: sdkmetric.NewMeterProvider(), Propagator: ticketProp{}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := core.Config{PullTimeout: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	tel.Instrument(&cfg)
	var got []string
	organs := append(séance(), core.OrganFunc("Reader", []string{"OMEN"}, func(_ context.Context, e core.Event) ([]core.Event, error) {
		got = append(got, e.Header("x-ticket"))
		return nil, nil
	}))
	b := memory.New(memory.Config{})
	spine, err := core.NewSpine(b, organs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := core.Build(core.EventInit{Type: "SUMMON", Headers: map[string]string{"x-ticket": "t-42"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Enqueue(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	if err := spine.RunUntilIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "t-42" {
		t.Errorf("x-ticket at the chain's end: %q, want the seed's t-42", got)
	}
}
