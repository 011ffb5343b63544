package bench

import (
	"context"
	"errors"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/necrostack/necrostack/necrotel"
)

// telemetry is the OpenTelemetry of a run with Config.OTel: every metric
// aggregated in a reader collected once, at the end, to check the count of
// handled calls; with OTelAll, also every span sampled, built and handed to
// a batching processor whose exporter drops it (exporting is another
// process's cost: a collector's), with OTelSampled 1% of them. With
// OTelMetrics the tracer provider is OpenTelemetry's no-op.
type telemetry struct {
	tel    *necrotel.Telemetry
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
}

// newTelemetry instruments a run on stream and group ("" in memory), as
// mode (a Config.OTel) says.
func newTelemetry(stream, group, mode string) (*telemetry, error) {
	o := &telemetry{reader: sdkmetric.NewManualReader()}
	o.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(o.reader))
	var tp trace.TracerProvider = tracenoop.NewTracerProvider()
	if mode == OTelAll || mode == OTelSampled {
		sampler := sdktrace.AlwaysSample()
		if mode == OTelSampled {
			sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))
		}
		o.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sampler))
		tp = o.tp
	}
	tel, err := necrotel.New(necrotel.Config{Stream: stream, Group: group, TracerProvider: tp, MeterProvider: o.mp})
	if err != nil {
		return nil, errors.Join(err, o.shutdown(context.Background()))
	}
	o.tel = tel
	return o, nil
}

// handled is the necrostack.handled counter's total.
func (o *telemetry) handled(ctx context.Context) (int64, error) {
	var rm metricdata.ResourceMetrics
	if err := o.reader.Collect(ctx, &rm); err != nil {
		return 0, fmt.Errorf("collect metrics: %w", err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == necrotel.MetricHandled {
				for _, p := range sum.DataPoints {
					n += p.Value
				}
			}
		}
	}
	return n, nil
}

func (o *telemetry) shutdown(ctx context.Context) error {
	var err error
	if o.tp != nil {
		err = o.tp.Shutdown(ctx)
	}
	return errors.Join(err, o.mp.Shutdown(ctx))
}
