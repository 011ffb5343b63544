package workertest

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
)

// Span is what a test reads of a span as a program's -traces writes it
// (OpenTelemetry's stdout exporter: one JSON object per line).
type Span struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ TraceID, SpanID string } // SpanID NoSpan for a root
	Attributes  []struct {
		Key   string
		Value struct{ Value any }
	}
}

// NoSpan is the parent span id of a root span.
const NoSpan = "0000000000000000"

// Attr returns the string attribute key of s, or "".
func (s Span) Attr(key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			v, _ := a.Value.Value.(string)
			return v
		}
	}
	return ""
}

// ReadSpans reads the spans of a -traces file, failing t if it cannot be
// read or holds a line that is not a span.
func ReadSpans(t testing.TB, path string) []Span {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Span
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s Span
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Text())
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}
