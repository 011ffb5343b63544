// Package telemetry is the README's OpenTelemetry snippet: a chain traced
// with necrotel.
package telemetry

import (
	"context"
	"fmt"
	"log"
	"log/slog"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/necrotel"
)

// An order chain traced as one trace: the seed's send span, and per hop a
// process span, a create span for what it emits, a settle span for its
// commit.
func Example() {
	spans := tracetest.NewSpanRecorder() // in production: your exporter, or the global providers
	tel, err := necrotel.New(necrotel.Config{Stream: "orders:events", Group: "billing", Parent: true,
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))})
	if err != nil {
		log.Fatal(err)
	}
	cfg := core.Config{Logger: slog.New(slog.DiscardHandler)}
	tel.Instrument(&cfg) // its Middleware and its Observer

	backend := memory.New(memory.Config{})
	ship := core.OrganFunc("Shipper", []string{"ORDER_PLACED"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		return []core.Event{core.MustEvent("ORDER_SHIPPED", nil)}, nil
	})
	notify := core.OrganFunc("Notifier", []string{"ORDER_SHIPPED"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
		fmt.Println(e.Type(), "- parent is the seed:", e.ParentID() == e.CorrelationID(), "- traced:", e.Header("traceparent") != "")
		return nil, nil
	})
	spine, err := core.NewSpine(backend, []core.Organ{ship, notify}, cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := tel.Send(ctx, backend, core.MustEvent("ORDER_PLACED", nil)); err != nil { // a send span
		log.Fatal(err)
	}
	if err := spine.RunUntilIdle(ctx); err != nil {
		log.Fatal(err)
	}
	traces := map[string]int{}
	for _, s := range spans.Ended() {
		traces[s.SpanContext().TraceID().String()]++
	}
	fmt.Println(len(traces), "trace of", len(spans.Ended()), "spans")
	// Output:
	// ORDER_SHIPPED - parent is the seed: true - traced: true
	// 1 trace of 6 spans
}
