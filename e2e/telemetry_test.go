package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/e2e/redisenv"
	"github.com/necrostack/necrostack/worker/workertest"
)

// Scenario 9. Telemetry across processes: two séance workers on Redis, each
// serving /metrics (-listen) and writing its spans (-traces, -trace-hops
// parent), a real Prometheus scraping both, and an emit writing its send
// spans. Beside the séance, events no organ serves and invalid rituals are
// written to the stream, to be dead-lettered. Prometheus, queried over its
// HTTP API, then counts exactly 4 handled calls per ritual across the two
// workers, as many dead letters as the dead-letter stream holds, and a lag
// of 0; and the three processes' spans, joined by trace id, make each ritual
// one trace: the send, four process spans, three create spans and four
// settle spans, each delivery's span the child of the span that produced its
// event, in whichever process that ran.
func TestTelemetry(t *testing.T) {
	t.Parallel()
	ctx := scenario(t, 2*time.Minute)
	const rituals, unroutable, invalid = 300, 5, 3
	prom := prometheusBinary(t)
	r := redisenv.Start(t, redisenv.Config{})
	f := newFleet(t, "seance", r, "e2e:seance")
	dir := t.TempDir()

	names := []string{"medium-1", "medium-2"}
	addrs, files := make([]string, len(names)), make([]string, len(names))
	for i, name := range names {
		addrs[i], files[i] = freeAddr(t), filepath.Join(dir, name+".jsonl")
		f.worker(name, "-listen", addrs[i], "-traces", files[i], "-trace-hops", "parent")
	}
	p := startPrometheus(ctx, t, prom, dir, addrs)
	waitFor(ctx, t, "Prometheus to scrape both workers", func() (bool, string) {
		f.alive()
		up, err := p.query(ctx, `sum(up{job="seance"})`)
		return err == nil && up.one() == 2, fmt.Sprintf("up: %v, %v", up, err)
	})

	emitted := filepath.Join(dir, "emit.jsonl")
	out := f.run(ctx, "emit", "-seance", "traced", "-rituals", strconv.Itoa(rituals), "-traces", emitted)
	if want := fmt.Sprintf("enqueued %d rituals (séance traced) to %s", rituals, f.stream); strings.TrimSpace(out) != want {
		t.Fatalf("seance -mode emit printed %q, want %q", out, want)
	}
	// What the Spine dead-letters: events no organ listens to, and rituals
	// the Summoner refuses. They come with no trace context.
	foreign := make(map[string]bool)
	for i := range unroutable + invalid {
		e := map[string]any{"id": newUUID(), "timestamp": time.Now().UTC().Format(time.RFC3339Nano), "event_type": "NOBODY_LISTENS", "payload": map[string]any{}}
		if i >= unroutable {
			e["event_type"], e["payload"] = "SUMMON_RITUAL", map[string]any{"number": i, "seeker": "Mina", "question": "", "seance": "refused"}
		}
		b, _ := json.Marshal(e)
		if err := f.rdb.XAdd(ctx, &goredis.XAddArgs{Stream: f.stream, Values: []any{"event", string(b)}}).Err(); err != nil {
			t.Fatalf("XADD: %v", err)
		}
		foreign[e["id"].(string)] = true
	}
	dead := int64(unroutable + invalid)
	waitFor(ctx, t, "every omen and every dead letter", func() (bool, string) {
		f.alive()
		done := countDone(omens("traced", f.workers...), rituals)
		ok, st := drained(ctx, f.rdb, f.stream)
		n := dlqLen(ctx, t, f.rdb, f.stream)
		return done == rituals && ok && n == dead, fmt.Sprintf("%d/%d omens, %d/%d dead letters; group: %s", done, rituals, n, dead, st)
	})

	// What Prometheus has scraped: the handled calls of both workers add up
	// to 4 per ritual, the dead letters they committed to the dead-letter
	// stream's length, and the group's lag, as each worker reports it, is
	// back to 0.
	group := fmt.Sprintf(`{messaging_destination_name=%q, messaging_consumer_group_name=%q}`, f.stream, group)
	queries := []struct {
		what, query string
		want        float64
	}{
		{"handled calls", `sum(necrostack_handled_total` + group + `)`, 4 * rituals},
		{"dead letters committed", `sum(necrostack_dead_lettered_total` + group + `)`, float64(dead)},
		{"the dead-letter stream's length", `max(necrostack_dead_letters{messaging_destination_name="` + f.stream + `"})`, float64(dead)},
		{"the group's lag", `max by (messaging_destination_name, messaging_consumer_group_name) (necrostack_group_lag` + group + `)`, 0},
		{"the group's pending entries", `max(necrostack_group_pending` + group + `)`, 0},
		{"workers reporting the lag", `count(necrostack_group_lag` + group + `)`, 2},
	}
	status := func() (bool, string) {
		f.alive()
		var got []string
		ok := true
		for _, q := range queries {
			v, err := p.query(ctx, q.query)
			ok = ok && err == nil && v.one() == q.want
			got = append(got, fmt.Sprintf("%s %v (want %v, %v)", q.what, v, q.want, err))
		}
		return ok, strings.Join(got, "; ")
	}
	waitFor(ctx, t, "Prometheus to see the run", status)
	_, st := status()
	t.Logf("Prometheus: %s", st)
	byWorker, err := p.query(ctx, `sum by (instance) (necrostack_handled_total`+group+`)`)
	if err != nil || len(byWorker) != 2 || byWorker[0].value == 0 || byWorker[1].value == 0 {
		t.Errorf("handled calls by worker: %v (%v), want both workers above 0", byWorker, err)
	}
	t.Logf("handled calls by worker: %v", byWorker)
	f.stop() // flushes the workers' spans
	if code := p.proc.Stop(30 * time.Second); code != 0 {
		t.Errorf("prometheus: exit %d after SIGTERM\nstderr:\n%s", code, workertest.Tail(p.proc.Stderr(), 20))
	}

	checkRitualTraces(t, f.stream, emitted, files, foreign, rituals)
}

// checkRitualTraces checks that the spans of the emit (in emitted) and of
// the workers (in files) make each of the rituals one trace.
func checkRitualTraces(t *testing.T, stream, emitted string, files []string, foreign map[string]bool, rituals int) {
	t.Helper()
	type trace struct {
		seed    string         // the seed's event id: the chain id
		names   map[string]int // span name → count
		files   map[int]bool   // the workers whose spans are in it
		spanIDs map[string]bool
	}
	traces := make(map[string]*trace)
	for _, s := range workertest.ReadSpans(t, emitted) {
		if s.Name != "send "+stream || s.Attr("messaging.operation.type") != "send" || s.Parent.SpanID != workertest.NoSpan {
			t.Errorf("emit span %q (operation %q, parent %s), want a root send %s", s.Name, s.Attr("messaging.operation.type"), s.Parent.SpanID, stream)
		}
		traces[s.SpanContext.TraceID] = &trace{seed: s.Attr("messaging.message.id"), names: map[string]int{s.Name: 1},
			files: make(map[int]bool), spanIDs: map[string]bool{s.SpanContext.SpanID: true}}
	}
	if len(traces) != rituals {
		t.Fatalf("the emit wrote %d traces, want %d: one per ritual", len(traces), rituals)
	}
	var worker [][]workertest.Span
	for i, file := range files {
		spans := workertest.ReadSpans(t, file)
		worker = append(worker, spans)
		for _, s := range spans {
			tr := traces[s.SpanContext.TraceID]
			if tr == nil {
				if !foreign[s.Attr("messaging.message.id")] {
					t.Errorf("%s: span %s of message %s is in trace %s, which no seed started", file, s.Name, s.Attr("messaging.message.id"), s.SpanContext.TraceID)
				}
				continue
			}
			tr.names[s.Name]++
			tr.files[i] = true
			tr.spanIDs[s.SpanContext.SpanID] = true
		}
	}
	for _, spans := range worker {
		for _, s := range spans {
			tr := traces[s.SpanContext.TraceID]
			if tr == nil || s.Attr("messaging.operation.type") != "process" {
				continue
			}
			want := map[string]string{"messaging.system": "necrostack", "messaging.operation.name": "process",
				"messaging.destination.name": stream, "messaging.consumer.group.name": group,
				"messaging.message.conversation_id": tr.seed}
			for k, v := range want {
				if got := s.Attr(k); got != v {
					t.Errorf("span %s (message %s): %s = %q, want %q", s.Name, s.Attr("messaging.message.id"), k, got, v)
				}
			}
			if s.Attr("messaging.message.id") == "" || s.Attr("necrostack.organ") == "" || !tr.spanIDs[s.Parent.SpanID] {
				t.Errorf("span %s: message %q, organ %q, parent %s in its trace: %v; want all three", s.Name,
					s.Attr("messaging.message.id"), s.Attr("necrostack.organ"), s.Parent.SpanID, tr.spanIDs[s.Parent.SpanID])
			}
		}
	}
	across := 0
	for id, tr := range traces {
		want := map[string]int{"send " + stream: 1, "process " + stream: 4, "create " + stream: 3, "settle " + stream: 4}
		for name, n := range want {
			if tr.names[name] != n {
				t.Errorf("trace %s (chain %s): %v, want %v", id, tr.seed, tr.names, want)
				break
			}
		}
		if len(tr.files) == len(files) {
			across++
		}
	}
	t.Logf("%d rituals, one trace each; %d of them cross both workers", rituals, across)
	if across == 0 {
		t.Errorf("no ritual's trace crosses both workers: the trace context did not travel through Redis between them")
	}
}

// prometheusBinary is Debian's prometheus (package prometheus), or the one
// NECROSTACK_E2E_PROMETHEUS_BIN names.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("NECROSTACK_E2E_PROMETHEUS_BIN"); p != "" {
		return p
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("no prometheus on PATH (%v): install it (apt-get install prometheus) or name one with NECROSTACK_E2E_PROMETHEUS_BIN", err)
	}
	return p
}

// freeAddr is a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// promServer is a Prometheus server run by a test.
type promServer struct {
	proc *workertest.Proc
	base string
}

// startPrometheus runs bin on a loopback port, with its data in dir,
// scraping the /metrics of targets every second as job "seance", and waits
// until it is ready.
func startPrometheus(ctx context.Context, t *testing.T, bin, dir string, targets []string) *promServer {
	t.Helper()
	quoted := make([]string, len(targets))
	for i, a := range targets {
		quoted[i] = strconv.Quote(a)
	}
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"+
		"  - job_name: seance\n    static_configs:\n      - targets: [%s]\n", strings.Join(quoted, ", "))
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := &promServer{base: "http://" + addr}
	p.proc = workertest.Start(t, "prometheus", bin, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+addr, "--log.level=warn")
	waitFor(ctx, t, "Prometheus to be ready on "+addr, func() (bool, string) {
		if p.proc.Exited() {
			t.Fatalf("prometheus exited (status %d)\nstderr:\n%s", p.proc.ExitCode(), workertest.Tail(p.proc.Stderr(), 20))
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// sample is one series of a query's answer: its labels and value.
type sample struct {
	labels map[string]string
	value  float64
}

func (s sample) String() string { return fmt.Sprintf("%v=%v", s.labels, s.value) }

// vector is a query's answer.
type vector []sample

// one is the value of a one-series answer, or -1.
func (v vector) one() float64 {
	if len(v) != 1 {
		return -1
	}
	return v[0].value
}

// query asks Prometheus's HTTP API for the instant vector of expr.
func (p *promServer) query(ctx context.Context, expr string) (vector, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/api/v1/query?query="+neturl.QueryEscape(expr), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Error  string
		Data   struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %s: %s: %w", expr, resp.Status, err)
	}
	if body.Status != "success" || body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: %s %s (%s)", expr, body.Status, body.Error, body.Data.ResultType)
	}
	out := make(vector, len(body.Data.Result))
	for i, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v: %w", expr, r.Value[1], err)
		}
		out[i] = sample{labels: r.Metric, value: v}
	}
	return out, nil
}
