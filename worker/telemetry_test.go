package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/worker"
	"github.com/necrostack/necrostack/worker/workertest"
)

// metricLine is one sample of Prometheus's text format.
var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)

// scrape returns the samples of name whose labels include every one of
// labels (`key="value"`), added up, and how many there were.
func scrape(t *testing.T, body, name string, labels ...string) (sum float64, n int) {
	t.Helper()
	for line := range strings.SplitSeq(body, "\n") {
		m := metricLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(","+m[2]+",", ","+l+",")
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		sum += v
		n++
	}
	return sum, n
}

// With -listen, /metrics serves the metrics of what the worker did and of
// its stream; with -traces, the emit and the worker write their spans, and
// with -trace-hops parent each seed's chain is one trace across the two
// processes.
func TestMetricsAndTraces(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	emitTraces, workerTraces := filepath.Join(dir, "emit.jsonl"), filepath.Join(dir, "worker.jsonl")
	env := map[string]string{"NECROSTACK_BACKEND": "redis", "NECROSTACK_REDIS_URL": srv.URL(), "NECROSTACK_TRACE_HOPS": "parent"}
	c := &chain{seeds: 20}
	if code, _, stderr := run(context.Background(), c.app(), env, "-mode", "emit", "-traces", emitTraces); code != worker.ExitOK {
		t.Fatalf("emit: exit %d; stderr:\n%s", code, stderr)
	}
	addr := freeAddr(t)
	stop, _ := background(c.app(), env, "-mode", "worker", "-listen", addr, "-traces", workerTraces)
	waitFor(t, 10*time.Second, "20 pongs", func() bool { return c.pongs.Load() == 20 })

	var body string
	group := `messaging_consumer_group_name="necrostack"`
	want := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"necrostack_handled_total", []string{`necrostack_organ="Pinger"`, `messaging_destination_name="chain:events"`, group}, 20},
		{"necrostack_handled_total", []string{`necrostack_organ="Ponger"`}, 20},
		{"messaging_client_consumed_messages_total", nil, 40},
		{"messaging_client_sent_messages_total", nil, 20}, // the PONGs; the PINGs were sent by the emit
		{"messaging_process_duration_seconds_count", []string{`messaging_system="necrostack"`}, 40},
		{"necrostack_commit_batch_size_count", nil, 40},
		{"necrostack_stream_length", nil, 40},
		{"necrostack_dead_letters", nil, 0},
		{"necrostack_group_lag", []string{group}, 0},
		{"necrostack_group_pending", []string{group}, 0},
	}
	// The counts settle once the last commit is told of, just after its
	// acknowledgement: poll until every one is exact.
	var wrong []string
	defer func() {
		if t.Failed() {
			t.Logf("the last scrape: %s", strings.Join(wrong, "; "))
		}
	}()
	waitFor(t, 10*time.Second, "every count exact on /metrics", func() bool {
		var code int
		code, body = get("http://" + addr + "/metrics")
		wrong = wrong[:0]
		for _, c := range want {
			if got, n := scrape(t, body, c.name, c.labels...); code != 200 || n == 0 || got != c.want {
				wrong = append(wrong, fmt.Sprintf("%s%v = %v (%d samples), want %v", c.name, c.labels, got, n, c.want))
			}
		}
		return len(wrong) == 0
	})
	if _, n := scrape(t, body, "go_goroutines"); n != 1 {
		t.Errorf("no go_goroutines: the runtime's metrics are missing")
	}
	if code, _, stderr := stop(); code != worker.ExitOK {
		t.Fatalf("worker: exit %d; stderr:\n%s", code, stderr)
	}

	sends := workertest.ReadSpans(t, emitTraces)
	if len(sends) != 20 {
		t.Fatalf("the emit wrote %d spans, want 20 sends", len(sends))
	}
	traces := make(map[string]map[string]int) // trace → span name → count
	for _, s := range sends {
		if s.Name != "send chain:events" || s.Attr("messaging.operation.type") != "send" {
			t.Errorf("emit span %q (operation %q), want send chain:events", s.Name, s.Attr("messaging.operation.type"))
		}
		traces[s.SpanContext.TraceID] = map[string]int{s.Name: 1}
	}
	for _, s := range workertest.ReadSpans(t, workerTraces) {
		m, ok := traces[s.SpanContext.TraceID]
		if !ok {
			t.Errorf("worker span %s (message %s) is in trace %s, which no seed started", s.Name, s.Attr("messaging.message.id"), s.SpanContext.TraceID)
			continue
		}
		m[s.Name]++
	}
	for id, m := range traces {
		if m["process chain:events"] != 2 || m["create chain:events"] != 1 || m["settle chain:events"] != 2 {
			t.Errorf("trace %s: %v, want a send, 2 process, 1 create and 2 settle spans", id, m)
		}
	}
}

// -trace-hops needs -traces; a -traces file that cannot be opened is bad
// input, said before anything runs.
func TestTraceFlags(t *testing.T) {
	c := &chain{seeds: 1}
	code, _, stderr := run(context.Background(), c.app(), nil, "-trace-hops", "parent")
	if code != worker.ExitUsage || !strings.Contains(stderr, "-trace-hops: needs -traces") {
		t.Errorf("-trace-hops alone: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = run(context.Background(), c.app(), nil, "-traces", filepath.Join(t.TempDir(), "no", "such", "dir", "t.jsonl"))
	if code != worker.ExitUsage || !strings.Contains(stderr, "-traces: open ") || !strings.Contains(stderr, "no such file or directory") {
		t.Errorf("-traces into a missing folder: exit %d, stderr %q", code, stderr)
	}
	if c.pings.Load() != 0 {
		t.Errorf("%d pings handled after bad flags", c.pings.Load())
	}
}

// An app that serves /metrics itself (App.HTTP) keeps it: the runtime's
// does not replace it, nor clash with it.
func TestAppServesItsOwnMetrics(t *testing.T) {
	addr, stop := serveWith(t, func(mux *http.ServeMux, _ *worker.Process) {
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "the app's own") })
	})
	if code, body := get("http://" + addr + "/metrics"); code != 200 || body != "the app's own\n" {
		t.Errorf("/metrics: %d %q, want the app's handler", code, body)
	}
	stop()
}

// An app's catch-all ("/") does not hide the runtime's /metrics: only a
// handler of /metrics itself replaces it.
func TestAppCatchAllKeepsMetrics(t *testing.T) {
	addr, stop := serveWith(t, func(mux *http.ServeMux, _ *worker.Process) {
		mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "the app's page") })
	})
	if code, body := get("http://" + addr + "/metrics"); code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d %q, want the runtime's metrics", code, body)
	}
	if code, body := get("http://" + addr + "/elsewhere"); code != 200 || body != "the app's page\n" {
		t.Errorf("/elsewhere: %d %q, want the app's catch-all", code, body)
	}
	stop()
}

// serveWith starts a worker on Redis whose App.HTTP is http, listening on
// a free loopback address, and waits for /healthz; stop stops it and fails
// t unless it exits 0.
func serveWith(t *testing.T, http func(*http.ServeMux, *worker.Process)) (addr string, stop func()) {
	t.Helper()
	c := &chain{}
	app := c.app()
	app.HTTP = http
	addr = freeAddr(t)
	srv := redistest.Start(t)
	halt, done := background(app, nil, "-backend", "redis", "-redis-url", srv.URL(), "-mode", "worker", "-listen", addr)
	waitFor(t, 10*time.Second, "/healthz", func() bool {
		select {
		case <-done:
			code, _, stderr := halt()
			t.Fatalf("the worker exited %d:\n%s", code, stderr)
		default:
		}
		code, _ := get("http://" + addr + "/healthz")
		return code == 200
	})
	return addr, func() {
		t.Helper()
		if code, _, stderr := halt(); code != worker.ExitOK {
			t.Errorf("exit %d; stderr:\n%s", code, stderr)
		}
	}
}
