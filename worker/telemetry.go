package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/necrotel"
)

// telemetry is a process's OpenTelemetry: metrics when -listen is on,
// served at /metrics from a registry of the process's own; spans when
// -traces names a file. Without either, it is nil and nothing is
// installed.
type telemetry struct {
	registry *prometheus.Registry // nil: no metrics
	mp       *sdkmetric.MeterProvider
	tp       *sdktrace.TracerProvider // nil: no traces
	out      io.WriteCloser           // the -traces file; nil for stderr
}

// startTelemetry makes the process's providers, as -listen and -traces ask.
func (p *Process) startTelemetry() (*telemetry, error) {
	if p.Listen == "" && p.Traces == "" {
		return nil, nil
	}
	res := resource.NewSchemaless(semconv.ServiceName(p.App.Name))
	o := &telemetry{}
	// OpenTelemetry's own errors (a span not written, a scrape whose
	// stream state failed) go to the process's log, not as plain text
	// to stderr.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		p.Log.LogAttrs(context.Background(), slog.LevelWarn, "telemetry", slog.String(core.KeyError, err.Error()))
	}))
	if p.Listen != "" {
		o.registry = prometheus.NewRegistry()
		o.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		exp, err := otelprom.New(otelprom.WithRegisterer(o.registry), otelprom.WithoutScopeInfo(),
			otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
		if err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
		o.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	}
	if p.Traces != "" {
		var w io.Writer = p.Stderr
		if p.Traces != "-" {
			f, err := os.OpenFile(p.Traces, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				o.shutdown(context.Background())
				return nil, fmt.Errorf("-traces: %w", err)
			}
			o.out, w = f, f
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			o.shutdown(context.Background())
			return nil, fmt.Errorf("-traces: %w", err)
		}
		// Blocking: every span is written, as -traces promises, at the
		// cost of waiting for the exporter when the queue is full.
		o.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBlocking()), sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.AlwaysSample()))
	}
	return o, nil
}

// serve adds /metrics to mux, when there are metrics and mux has no
// handler for it yet (the app's own, from App.HTTP, wins).
func (o *telemetry) serve(mux *http.ServeMux) {
	if o == nil || o.registry == nil {
		return
	}
	// The pattern that would serve GET /metrics: the app's own only if it
	// names /metrics itself, not a catch-all such as "/".
	_, pattern := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/metrics"}})
	if pattern[strings.IndexByte(pattern, ' ')+1:] == "/metrics" {
		return
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.registry, promhttp.HandlerOpts{}))
}

// instrument returns the Telemetry of the stream and group in force, or
// nil without providers.
func (o *telemetry) instrument(p *Process, onRedis bool) (*necrotel.Telemetry, error) {
	if o == nil {
		return nil, nil
	}
	cfg := necrotel.Config{Parent: p.TraceHops == "parent"}
	if onRedis {
		cfg.Stream, cfg.Group = p.Stream, p.Group
	}
	var mp metric.MeterProvider = noop.NewMeterProvider()
	if o.mp != nil {
		mp = o.mp
	}
	var tp trace.TracerProvider = tracenoop.NewTracerProvider()
	if o.tp != nil {
		tp = o.tp
	}
	cfg.MeterProvider, cfg.TracerProvider = mp, tp
	tel, err := necrotel.New(cfg)
	if err != nil {
		return nil, err
	}
	return tel, nil
}

// observeStream registers the stream gauges, summed over its partitions,
// when there are metrics.
func (o *telemetry) observeStream(tel *necrotel.Telemetry, parts []*nsredis.Backend) error {
	if o == nil || o.mp == nil || len(parts) == 0 {
		return nil
	}
	_, err := tel.ObserveStream(func(ctx context.Context) (necrotel.StreamState, error) {
		// With partitions, the stream's figures are their sums.
		var s necrotel.StreamState
		groups := map[string]int{} // index in s.Groups
		for _, b := range parts {
			st, err := b.Stats(ctx) // bounded by the backend's Timeout
			if err != nil {
				return necrotel.StreamState{}, err
			}
			s.Length += st.Length
			s.DeadLetters += st.DeadLetters
			for _, g := range st.Groups {
				i, ok := groups[g.Name]
				if !ok {
					i = len(s.Groups)
					groups[g.Name] = i
					s.Groups = append(s.Groups, necrotel.GroupState{Name: g.Name})
				}
				s.Groups[i].Lag += g.Lag
				s.Groups[i].Pending += g.Pending
			}
		}
		return s, nil
	})
	return err // unregistered with the provider at shutdown
}

// stopTelemetry shuts the process's telemetry down, saying so when the
// last spans could not be written.
func (p *Process) stopTelemetry() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.otel.shutdown(ctx); err != nil {
		p.Log.LogAttrs(ctx, slog.LevelError, "telemetry not flushed", slog.String(core.KeyError, err.Error()))
	}
}

// shutdown flushes the spans and closes the providers and the -traces
// file.
func (o *telemetry) shutdown(ctx context.Context) error {
	if o == nil {
		return nil
	}
	var errs []error
	if o.tp != nil {
		errs = append(errs, o.tp.Shutdown(ctx))
	}
	if o.mp != nil {
		errs = append(errs, o.mp.Shutdown(ctx))
	}
	if o.out != nil {
		errs = append(errs, o.out.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	return nil
}

// Telemetry returns the process's instrumentation once the backend is open
// (from App.Spine on), nil when neither -listen nor -traces asked for any:
// for the app's own producers (Telemetry.Send, Inject).
func (p *Process) Telemetry() *necrotel.Telemetry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tel
}

// send enqueues e on the backend: in a send span when traced.
func (p *Process) send(ctx context.Context, b core.Backend, e core.Event) error {
	if tel := p.Telemetry(); tel != nil {
		return tel.Send(ctx, b, e)
	}
	return b.Enqueue(ctx, e)
}
