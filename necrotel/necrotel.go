package necrotel

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/necrostack/necrostack/core"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/necrostack/necrostack/necrotel"

// System is the value of messaging.system.
const System = "necrostack"

// Config says where the telemetry goes and how a delivery's span relates to
// the span that produced its event. The zero Config uses OpenTelemetry's
// global providers, W3C trace context and baggage, and links.
type Config struct {
	// Stream is messaging.destination.name: the stream the Spine reads and
	// the organs' events go to. "" leaves the attribute out.
	Stream string
	// Group is messaging.consumer.group.name on consumer spans and
	// metrics. "" leaves it out.
	Group string

	// TracerProvider makes the spans. Default: otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the metrics. Default: otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Propagator writes the producer's span context into an event's headers
	// and reads it back on the consumer side. Default: W3C trace context and
	// baggage (not the global propagator, which is a no-op unless set).
	Propagator propagation.TextMapPropagator

	// Parent makes the span that produced an event the parent of the spans
	// that process it, so that a whole chain, from its seed's send to its
	// last organ, is one trace. By default, as the messaging semantic
	// conventions recommend, a process span starts a trace of its own and
	// links to the producer's span: a chain is then one trace per hop,
	// joined by links and by messaging.message.conversation_id (the chain
	// id).
	Parent bool
}

// Telemetry instruments Spines and producers. Make one with New, install
// it with Instrument, and use one per stream and group: its attributes name
// them. It is safe for concurrent use.
type Telemetry struct {
	cfg    Config
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	// fields are prop's header names (its Fields), looked up per hop.
	fields []string
	// consumer are the attributes of every consumer span and metric
	// (system, stream, group); producer those of producer spans (system,
	// stream).
	consumer, producer []attribute.KeyValue
	m                  instruments
	opts               sync.Map // optionKey → []metric.MeasurementOption (see options)
	// fixed are the option sets of the measurements whose attributes
	// never change, looked up once.
	fixed struct{ receive, send, settle, none *measureOpts }
	// untraced: the TracerProvider is OpenTelemetry's no-op, so there is
	// no span to make: Instrument installs the metrics, and a middleware
	// that only passes the trace context on (passContext).
	untraced bool
	// starts are the start options of each operation's spans: the kind,
	// and the attributes that are the same for every span of t (those a
	// sampler may look at); the message's own are set once a span is
	// known to record.
	starts map[string][]trace.SpanStartOption
	names  map[string]string // operation → span name
}

// New returns the Telemetry that cfg describes, with its instruments
// created.
func New(cfg Config) (*Telemetry, error) {
	tp := cfg.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	prop := cfg.Propagator
	if prop == nil {
		prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	t := &Telemetry{cfg: cfg, tracer: tp.Tracer(ScopeName), prop: prop, fields: prop.Fields()}
	_, t.untraced = tp.(tracenoop.TracerProvider)
	t.producer = []attribute.KeyValue{semconv.MessagingSystemKey.String(System)}
	if cfg.Stream != "" {
		t.producer = append(t.producer, semconv.MessagingDestinationName(cfg.Stream))
	}
	t.consumer = append([]attribute.KeyValue(nil), t.producer...)
	if cfg.Group != "" {
		t.consumer = append(t.consumer, semconv.MessagingConsumerGroupName(cfg.Group))
	}
	t.starts, t.names = make(map[string][]trace.SpanStartOption), make(map[string]string)
	for _, op := range []struct {
		name  string
		kind  trace.SpanKind
		typ   attribute.KeyValue
		attrs []attribute.KeyValue
	}{
		{"process", trace.SpanKindConsumer, semconv.MessagingOperationTypeProcess, t.consumer},
		{"settle", trace.SpanKindClient, semconv.MessagingOperationTypeSettle, t.consumer},
		{"create", trace.SpanKindProducer, semconv.MessagingOperationTypeCreate, t.producer},
		{"send", trace.SpanKindProducer, semconv.MessagingOperationTypeSend, t.producer},
	} {
		attrs := append(append([]attribute.KeyValue(nil), op.attrs...), semconv.MessagingOperationName(op.name), op.typ)
		t.starts[op.name] = []trace.SpanStartOption{trace.WithSpanKind(op.kind), trace.WithAttributes(attrs...)}
		t.names[op.name] = op.name
		if cfg.Stream != "" {
			t.names[op.name] = op.name + " " + cfg.Stream // the conventions' "{operation} {destination}"
		}
	}
	m, err := newInstruments(mp.Meter(ScopeName))
	if err != nil {
		return nil, fmt.Errorf("necrotel: %w", err)
	}
	t.m = m
	t.fixed.receive, t.fixed.send = t.measure(optionKey{op: "receive"}), t.measure(optionKey{op: "send"})
	t.fixed.settle, t.fixed.none = t.measure(optionKey{op: "settle"}), t.measure(optionKey{})
	return t, nil
}

// Instrument installs t in a Spine's configuration: its Middleware,
// innermost of those already there, and its Observer, called after the
// hooks of one already set. With OpenTelemetry's no-op TracerProvider
// (trace/noop) there is no span to make: the middleware then only passes
// the trace context and baggage an event carries on to the events its
// organs emit, as an uninstrumented hop would, so that a metrics-only
// process in the middle of a chain does not break its trace.
func (t *Telemetry) Instrument(cfg *core.Config) {
	if t.untraced {
		cfg.Middleware = append(cfg.Middleware, t.passContext)
	} else {
		cfg.Middleware = append(cfg.Middleware, t.Middleware)
	}
	cfg.Observer = chain(cfg.Observer, t.Observer())
}

// errorType is error.type for err, a value of low cardinality as the
// semantic conventions ask: "timeout" for a deadline, "canceled" for a
// cancelled context, "panic" for a recovered panic, "permanent" for an
// error wrapped with core.Permanent, else the Go type of the innermost
// error (as fmt's %T prints it).
func errorType(err error) string {
	var p *core.PanicError
	switch {
	case errors.As(err, &p):
		return "panic"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, core.ErrPermanent):
		return "permanent"
	}
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(err) {
		err = u
	}
	return fmt.Sprintf("%T", err)
}
