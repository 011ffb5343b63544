package necrotel

import (
	"context"
	"time"

	"github.com/necrostack/necrostack/core"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// The metrics, by their OpenTelemetry names. Prometheus writes dots as
// underscores, and adds _seconds to durations and _total to counters:
// messaging_process_duration_seconds, necrostack_handled_total.
const (
	MetricProcessDuration  = "messaging.process.duration"         // histogram, s: one organ call; organ, event type, error.type
	MetricConsumed         = "messaging.client.consumed.messages" // counter: deliveries pulled
	MetricSent             = "messaging.client.sent.messages"     // counter: events committed to the stream (emitted) or sent (seeds)
	MetricHandled          = "necrostack.handled"                 // counter: organ calls that succeeded; organ, event type
	MetricFailed           = "necrostack.failed"                  // counter: organ calls that failed; organ, event type, error.type
	MetricRetried          = "necrostack.retried"                 // counter: failed calls made again; organ
	MetricDeadLettered     = "necrostack.dead_lettered"           // counter: dead letters committed; organ (when one), reason
	MetricReleased         = "necrostack.released"                // counter: deliveries handed back unfinished
	MetricCommitBatch      = "necrostack.commit.batch_size"       // histogram: per commit, the size of the batch it went in
	MetricCommitDuration   = "necrostack.commit.duration"         // histogram, s: per commit, how long its batch took
	MetricCommitFailed     = "necrostack.commit.failed"           // counter: commit attempts that failed; error.type
	MetricStreamLength     = "necrostack.stream.length"           // gauge: entries in the stream
	MetricDeadLetterLength = "necrostack.dead_letters"            // gauge: entries in the dead-letter stream
	MetricGroupLag         = "necrostack.group.lag"               // gauge: entries not yet delivered to the group
	MetricGroupPending     = "necrostack.group.pending"           // gauge: entries delivered to the group and not yet acknowledged
)

type instruments struct {
	processDuration, commitDuration metric.Float64Histogram
	commitBatch                     metric.Int64Histogram
	consumed, sent                  metric.Int64Counter
	handled, failed, retried        metric.Int64Counter
	deadLettered, released          metric.Int64Counter
	commitFailed                    metric.Int64Counter
	meter                           metric.Meter
}

func newInstruments(m metric.Meter) (instruments, error) {
	in := instruments{meter: m}
	var errs [12]error
	// The semantic conventions' buckets for messaging durations.
	in.processDuration, errs[0] = m.Float64Histogram(MetricProcessDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of processing operation."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	in.commitDuration, errs[1] = m.Float64Histogram(MetricCommitDuration, metric.WithUnit("s"),
		metric.WithDescription("How long the commit (outcome stored, delivery acknowledged) of a delivery's batch took."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
	in.commitBatch, errs[2] = m.Int64Histogram(MetricCommitBatch, metric.WithUnit("{commit}"),
		metric.WithDescription("Per commit, how many commits went in its batch."),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
	counter := func(i int, name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs[i] = err
		return c
	}
	in.consumed = counter(3, MetricConsumed, "{message}", "Number of messages that were delivered to the application.")
	in.sent = counter(4, MetricSent, "{message}", "Number of messages producer attempted to send to the broker.")
	in.handled = counter(5, MetricHandled, "{call}", "Organ calls that returned without error.")
	in.failed = counter(6, MetricFailed, "{call}", "Organ calls that failed (each attempt).")
	in.retried = counter(7, MetricRetried, "{call}", "Failed organ calls made again after a backoff.")
	in.deadLettered = counter(8, MetricDeadLettered, "{event}", "Dead letters committed, by organ and reason.")
	in.released = counter(9, MetricReleased, "{delivery}", "Deliveries handed back to the backend unfinished.")
	in.commitFailed = counter(10, MetricCommitFailed, "{attempt}", "Commit attempts that failed.")
	for _, err := range errs {
		if err != nil {
			return instruments{}, err
		}
	}
	return in, nil
}

// optionKey names a set of metric attributes beside the Telemetry's own.
type optionKey struct {
	op, organ, eventType, errorType, reason string
}

// measureOpts are the options of one attribute set, made once: a
// measurement with them allocates nothing.
type measureOpts struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

// options returns the add options of k's attribute set.
func (t *Telemetry) options(k optionKey) []metric.AddOption { return t.measure(k).add }

func (t *Telemetry) measure(k optionKey) *measureOpts {
	if o, ok := t.opts.Load(k); ok {
		return o.(*measureOpts)
	}
	attrs := append([]attribute.KeyValue(nil), t.consumer...)
	if k.op != "" {
		attrs = append(attrs, semconv.MessagingOperationName(k.op))
	}
	if k.organ != "" {
		attrs = append(attrs, AttrOrgan.String(k.organ))
	}
	if k.eventType != "" {
		attrs = append(attrs, AttrEventType.String(k.eventType))
	}
	if k.errorType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(k.errorType))
	}
	if k.reason != "" {
		attrs = append(attrs, AttrReason.String(k.reason))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(attrs...))
	o, _ := t.opts.LoadOrStore(k, &measureOpts{add: []metric.AddOption{opt}, rec: []metric.RecordOption{opt}})
	return o.(*measureOpts)
}

// Observer returns the Spine observer that records t's metrics and the
// settle span of each commit.
func (t *Telemetry) Observer() *core.Observer {
	return &core.Observer{
		Pulled: func(ctx context.Context, d core.Delivery) {
			t.m.consumed.Add(ctx, 1, t.fixed.receive.add...)
		},
		OrganFinished: t.organFinished,
		Retried: func(ctx context.Context, organ string, e core.Event, attempt int, wait time.Duration, err error) {
			t.m.retried.Add(ctx, 1, t.options(optionKey{organ: organ, eventType: e.Type()})...)
		},
		Committed: t.committed,
		DeadLettered: func(ctx context.Context, dl core.DeadLetter) {
			t.m.deadLettered.Add(ctx, 1, t.options(optionKey{organ: dl.Organ, reason: dl.Reason})...)
		},
		CommitFailed: func(ctx context.Context, d core.Delivery, err error, attempt int) {
			t.m.commitFailed.Add(ctx, 1, t.options(optionKey{op: "settle", errorType: errorType(err)})...)
		},
		Released: func(ctx context.Context, d core.Delivery) {
			t.m.released.Add(ctx, 1, t.fixed.none.add...)
		},
	}
}

func (t *Telemetry) organFinished(ctx context.Context, organ string, e core.Event, attempt int, emitted []core.Event, took time.Duration, err error) {
	k := optionKey{op: "process", organ: organ, eventType: e.Type()}
	if err != nil {
		k.errorType = errorType(err)
	}
	m := t.measure(k)
	if err != nil {
		t.m.failed.Add(ctx, 1, m.add...)
	} else {
		t.m.handled.Add(ctx, 1, m.add...)
	}
	t.m.processDuration.Record(ctx, took.Seconds(), m.rec...)
}

func (t *Telemetry) committed(ctx context.Context, d core.Delivery, out core.Outcome, took time.Duration, batch int) {
	if n := len(out.Emitted); n > 0 {
		t.m.sent.Add(ctx, int64(n), t.fixed.send.add...)
	}
	rec := t.fixed.settle.rec
	t.m.commitBatch.Record(ctx, int64(batch), rec...)
	t.m.commitDuration.Record(ctx, took.Seconds(), rec...)
	if !t.untraced {
		t.settle(ctx, d, took, batch)
	}
}

// settle records the settle span of d's commit, which took took, after the
// fact: the Spine tells of a commit once it is done.
func (t *Telemetry) settle(ctx context.Context, d core.Delivery, took time.Duration, batch int) {
	end := time.Now()
	e := d.Event
	more := []trace.SpanStartOption{trace.WithTimestamp(end.Add(-took))}
	if t.cfg.Parent { // the producer's context is the parent: needed to start
		ctx, _, _ = t.relate(ctx, e)
	}
	_, span := t.start(ctx, "settle", more)
	if span.IsRecording() {
		span.SetAttributes(semconv.MessagingMessageID(e.ID()), semconv.MessagingMessageConversationID(e.CorrelationID()),
			semconv.MessagingBatchMessageCount(batch))
		if !t.cfg.Parent { // a link, only for a span that records
			if sc := trace.SpanContextFromContext(t.Extract(ctx, e)); sc.IsValid() {
				span.AddLink(trace.Link{SpanContext: sc})
			}
		}
	}
	span.End(trace.WithTimestamp(end))
}
