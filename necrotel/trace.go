package necrotel

import (
	"context"

	"github.com/necrostack/necrostack/core"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Names of NecroStack's own span and metric attributes.
const (
	AttrOrgan     = attribute.Key("necrostack.organ")
	AttrEventType = attribute.Key("necrostack.event_type")
	AttrAttempt   = attribute.Key("necrostack.attempt")
	AttrReason    = attribute.Key("necrostack.reason")
)

// Middleware wraps org so that each call of its Handle is a process span
// (CONSUMER) and each event it emits has a create span (PRODUCER), child of
// the process span, whose context is written into the event's headers. The
// process span links to the context the delivered event carries, or, with
// Config.Parent, is its child.
func (t *Telemetry) Middleware(org core.Organ) core.Organ {
	return &tracedOrgan{Organ: org, name: core.OrganName(org), t: t}
}

type tracedOrgan struct {
	core.Organ
	name string
	t    *Telemetry
}

func (o *tracedOrgan) Name() string { return o.name }

func (o *tracedOrgan) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	t := o.t
	ctx, span := t.startProcess(ctx, o.name, e)
	emitted, err := o.Organ.Handle(ctx, e)
	if err != nil {
		fail(span, err)
		span.End()
		return emitted, err
	}
	for i := range emitted {
		if emitted[i].ID() == e.ID() {
			continue // the input re-enqueued: it keeps its headers
		}
		if out, ierr := t.create(ctx, emitted[i], e.CorrelationID()); ierr == nil {
			emitted[i] = out // the slice is the Spine's, as it would be
		}
	}
	span.End()
	return emitted, nil
}

// fail marks span as failed by err.
func fail(span trace.Span, err error) {
	span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// relate returns how a span for e relates to the context e carries: ctx
// made its child with Config.Parent, else ctx and a link to it; and the
// context extracted, for its baggage.
func (t *Telemetry) relate(ctx context.Context, e core.Event) (context.Context, []trace.SpanStartOption, context.Context) {
	producer := t.Extract(ctx, e)
	sc := trace.SpanContextFromContext(producer)
	switch {
	case !sc.IsValid():
		return ctx, nil, producer
	case t.cfg.Parent:
		return producer, nil, producer
	}
	return ctx, []trace.SpanStartOption{trace.WithLinks(trace.Link{SpanContext: sc})}, producer
}

// startProcess starts the process span of organ's call for e.
func (t *Telemetry) startProcess(ctx context.Context, organ string, e core.Event) (context.Context, trace.Span) {
	ctx, link, producer := t.relate(ctx, e)
	if !t.cfg.Parent {
		// The baggage travels with the event, span or no span.
		if b := baggage.FromContext(producer); b.Len() > 0 {
			ctx = baggage.ContextWithBaggage(ctx, b)
		}
	}
	ctx, span := t.start(ctx, "process", link)
	if span.IsRecording() {
		span.SetAttributes(semconv.MessagingMessageID(e.ID()), semconv.MessagingMessageConversationID(e.CorrelationID()),
			AttrOrgan.String(organ), AttrEventType.String(e.Type()), AttrAttempt.Int(core.DeliveryAttempt(ctx)))
	}
	return ctx, span
}

// start starts a span of operation op, with more options.
func (t *Telemetry) start(ctx context.Context, op string, more []trace.SpanStartOption) (context.Context, trace.Span) {
	opts := t.starts[op]
	if len(more) > 0 {
		opts = append(append(make([]trace.SpanStartOption, 0, len(opts)+len(more)), opts...), more...)
	}
	return t.tracer.Start(ctx, t.names[op], opts...)
}

// startProducer starts the create or send span (op) of e, in chain, with
// more options.
func (t *Telemetry) startProducer(ctx context.Context, op string, e core.Event, chain string, more []trace.SpanStartOption) (context.Context, trace.Span) {
	ctx, span := t.start(ctx, op, more)
	if span.IsRecording() {
		span.SetAttributes(semconv.MessagingMessageID(e.ID()), semconv.MessagingMessageConversationID(chain),
			AttrEventType.String(e.Type()))
	}
	return ctx, span
}

// create ends a create span for e, an event emitted in ctx's span, in
// chain, and returns e with the span's context in its headers.
func (t *Telemetry) create(ctx context.Context, e core.Event, chain string) (core.Event, error) {
	ctx, span := t.startProducer(ctx, "create", e, chain, nil)
	defer span.End()
	out, err := t.Inject(ctx, e)
	if err != nil {
		fail(span, err)
	}
	return out, err
}

// Inject returns e with the span context (and baggage) of ctx written into
// its headers, for an event produced outside an organ. Without a span in
// ctx it returns e unchanged.
func (t *Telemetry) Inject(ctx context.Context, e core.Event) (core.Event, error) {
	c := propagation.MapCarrier{}
	t.prop.Inject(ctx, c)
	if len(c) == 0 {
		return e, nil
	}
	return e.WithHeaders(c)
}

// Extract returns ctx with the span context (and baggage) e's headers
// carry, as Inject wrote them.
func (t *Telemetry) Extract(ctx context.Context, e core.Event) context.Context {
	return t.prop.Extract(ctx, eventCarrier{e})
}

// Send enqueues e, an event produced outside an organ (a seed), on b, in a
// send span (PRODUCER) whose context it writes into e's headers: the root
// of e's chain when Config.Parent is set, unless e already carries a trace
// context (a seed from another traced system), which the send span then
// continues (Parent) or links to. It returns the error of the header or of
// the Enqueue.
func (t *Telemetry) Send(ctx context.Context, b core.Backend, e core.Event) error {
	ctx, link, _ := t.relate(ctx, e)
	ctx, span := t.startProducer(ctx, "send", e, e.CorrelationID(), link)
	defer span.End()
	out, err := t.Inject(ctx, e)
	if err == nil {
		err = b.Enqueue(ctx, out)
	}
	if err != nil {
		fail(span, err)
		return err
	}
	t.m.sent.Add(ctx, 1, t.fixed.send.add...)
	return nil
}

// passContext is the middleware of an untraced Telemetry: the events org
// emits get the trace context and baggage of its input, as the propagator
// reads and writes them, unless they carry their own.
func (t *Telemetry) passContext(org core.Organ) core.Organ {
	return &passingOrgan{Organ: org, name: core.OrganName(org), t: t}
}

type passingOrgan struct {
	core.Organ
	name string
	t    *Telemetry
}

func (o *passingOrgan) Name() string { return o.name }

func (o *passingOrgan) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	emitted, err := o.Organ.Handle(ctx, e)
	if err != nil || len(emitted) == 0 || !o.t.carriesContext(e) {
		return emitted, err
	}
	c := propagation.MapCarrier{}
	o.t.prop.Inject(o.t.Extract(context.Background(), e), c)
	if len(c) == 0 {
		return emitted, nil
	}
	for i, out := range emitted {
		if out.ID() == e.ID() || o.t.carriesContext(out) {
			continue
		}
		if withCtx, herr := out.WithHeaders(c); herr == nil { // copies c
			emitted[i] = withCtx
		}
	}
	return emitted, nil
}

// carriesContext reports whether e has a header of the propagator's.
func (t *Telemetry) carriesContext(e core.Event) bool {
	for _, k := range t.fields {
		if e.Header(k) != "" {
			return true
		}
	}
	return false
}

// eventCarrier reads an event's headers for a propagator.
type eventCarrier struct{ e core.Event }

func (c eventCarrier) Get(key string) string { return c.e.Header(key) }
func (c eventCarrier) Set(string, string)    {} // events are immutable: Inject writes a MapCarrier
func (c eventCarrier) Keys() []string {
	h := c.e.Headers()
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}
