package necrotel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/necrostack/necrostack/necrotel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Within a span, a log line carries its trace and span ids; outside, none.
func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(necrotel.LogHandler(slog.NewJSONHandler(&buf, nil))).With("organ", "Medium")
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(context.Background(), "process")
	log.InfoContext(ctx, "inside")
	span.End()
	log.InfoContext(context.Background(), "outside")

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	var in, out map[string]any
	if err := json.Unmarshal(lines[0], &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &out); err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()
	if in[necrotel.KeyTraceID] != sc.TraceID().String() || in[necrotel.KeySpanID] != sc.SpanID().String() || in["organ"] != "Medium" {
		t.Errorf("inside a span: %s; want trace_id %s, span_id %s and the logger's attributes", lines[0], sc.TraceID(), sc.SpanID())
	}
	if _, ok := out[necrotel.KeyTraceID]; ok {
		t.Errorf("outside a span: %s; want no trace_id", lines[1])
	}
}
