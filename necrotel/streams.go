package necrotel

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// StreamState is what the stream gauges report: a stream's length, its
// dead letters, and its consumer groups. A Redis worker reads it from
// redis.Backend.Stats.
type StreamState struct {
	Length, DeadLetters int64
	Groups              []GroupState
}

// GroupState is one consumer group of a stream: the entries not yet
// delivered to it (Lag) and those delivered and not acknowledged (Pending).
type GroupState struct {
	Name         string
	Lag, Pending int64
}

// ObserveStream registers the stream gauges (MetricStreamLength,
// MetricDeadLetterLength, MetricGroupLag, MetricGroupPending), which call
// state whenever the metrics are collected: a Prometheus scrape, an OTLP
// export. When state fails, that collection reports none of them. Every
// worker on a stream reports the same values: aggregate them with max, not
// sum. The function returned unregisters them.
func (t *Telemetry) ObserveStream(state func(ctx context.Context) (StreamState, error)) (unregister func() error, err error) {
	m := t.m.meter
	length, err1 := m.Int64ObservableGauge(MetricStreamLength, metric.WithUnit("{entry}"), metric.WithDescription("Entries in the stream."))
	dead, err2 := m.Int64ObservableGauge(MetricDeadLetterLength, metric.WithUnit("{entry}"), metric.WithDescription("Entries in the stream's dead-letter stream."))
	lag, err3 := m.Int64ObservableGauge(MetricGroupLag, metric.WithUnit("{entry}"), metric.WithDescription("Entries not yet delivered to the consumer group."))
	pending, err4 := m.Int64ObservableGauge(MetricGroupPending, metric.WithUnit("{entry}"), metric.WithDescription("Entries delivered to the consumer group and not yet acknowledged."))
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return nil, fmt.Errorf("necrotel: %w", err)
		}
	}
	stream := metric.WithAttributes(t.producer...)
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s, err := state(ctx)
		if err != nil {
			return fmt.Errorf("necrotel: stream state: %w", err)
		}
		o.ObserveInt64(length, s.Length, stream)
		o.ObserveInt64(dead, s.DeadLetters, stream)
		for _, g := range s.Groups {
			attrs := append(append([]attribute.KeyValue(nil), t.producer...), semconv.MessagingConsumerGroupName(g.Name))
			group := metric.WithAttributes(attrs...)
			o.ObserveInt64(lag, g.Lag, group)
			o.ObserveInt64(pending, g.Pending, group)
		}
		return nil
	}, length, dead, lag, pending)
	if err != nil {
		return nil, fmt.Errorf("necrotel: %w", err)
	}
	return reg.Unregister, nil
}
