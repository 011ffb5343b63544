package necrotel_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/necrotel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A two-hop chain, traced as one trace: the seed's send span, then for each
// hop a process span, a create span for what it emits, and a settle span
// for its commit.
func ExampleTelemetry_Instrument() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	tel, err := necrotel.New(necrotel.Config{Stream: "orders", TracerProvider: tp, Parent: true})
	if err != nil {
		panic(err)
	}

	backend := memory.New(memory.Config{})
	ship := core.OrganFunc("Shipper", []string{"ORDER_PLACED"}, func(context.Context, core.Event) ([]core.Event, error) {
		return []core.Event{core.MustEvent("ORDER_SHIPPED", nil)}, nil
	})
	notify := core.OrganFunc("Notifier", []string{"ORDER_SHIPPED"}, func(context.Context, core.Event) ([]core.Event, error) {
		return nil, nil
	})
	cfg := core.Config{PullTimeout: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	tel.Instrument(&cfg)
	spine, err := core.NewSpine(backend, []core.Organ{ship, notify}, cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := tel.Send(ctx, backend, core.MustEvent("ORDER_PLACED", nil)); err != nil {
		panic(err)
	}
	if err := spine.RunUntilIdle(ctx); err != nil {
		panic(err)
	}

	traces := map[string]bool{}
	count := map[string]int{}
	for _, s := range spans.Ended() {
		traces[s.SpanContext().TraceID().String()] = true
		count[s.Name()]++
	}
	fmt.Println("traces:", len(traces))
	fmt.Println(count["send orders"], "send,", count["process orders"], "process,", count["create orders"], "create,", count["settle orders"], "settle")
	// Output:
	// traces: 1
	// 1 send, 2 process, 1 create, 2 settle
}
