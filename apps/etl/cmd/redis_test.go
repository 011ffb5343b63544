package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/apps/etl/organs"
	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker"
	"github.com/necrostack/necrostack/worker/workertest"
)

// onRedis returns the flags of a run on url.
func onRedis(url string, args ...string) []string {
	return append([]string{"-backend", "redis", "-redis-url", url}, args...)
}

func startMiniredis(t *testing.T) string {
	t.Helper()
	return "redis://" + miniredis.RunT(t).Addr()
}

// memorySample is the summary of the sample in memory mode, which every
// backend and mode must print alike.
func memorySample(t *testing.T) string {
	t.Helper()
	code, stdout, stderr := runCmd(context.Background())
	if code != worker.ExitOK {
		t.Fatalf("memory run: exit %d; stderr:\n%s", code, stderr)
	}
	return stdout
}

var enqueuedRE = regexp.MustCompile(`^enqueued job ([0-9a-f-]{36}) to (\S+)\n$`)

// jobID returns the job id in what emit printed, checking the line names
// the stream.
func jobID(t *testing.T, stdout, stream string) string {
	t.Helper()
	m := enqueuedRE.FindStringSubmatch(stdout)
	if m == nil || m[2] != stream {
		t.Fatalf("emit printed %q, want \"enqueued job <id> to %s\"", stdout, stream)
	}
	return m[1]
}

// emitJob runs -mode emit and returns the job id it printed.
func emitJob(t *testing.T, url string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCmd(context.Background(), onRedis(url, append([]string{"-mode", "emit"}, args...)...)...)
	if code != worker.ExitOK {
		t.Fatalf("emit %q: exit %d; stderr:\n%s", args, code, stderr)
	}
	return jobID(t, stdout, stream)
}

func containsInOrder(s string, parts ...string) bool {
	for _, p := range parts {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

func TestRedisRun(t *testing.T) {
	t.Parallel()
	sample := memorySample(t)
	tiny := writeCSV(t, tinyCSV)
	noValid := writeCSV(t, noValidCSV)

	tests := []struct {
		name       string
		leftover   string // -input of a job emitted before the run; "-" for none
		input      string
		wantCode   int
		wantStdout string
		wantLast   string // the last line of stderr, the only one from etl; "" for none
		quiet      bool   // stderr is empty
		wantDLQ    int64
		// wantNext is what a second run, of the sample, prints: the rest of
		// the leftover job, which the first left on the stream when its
		// own job was done, then the sample.
		wantNext []string
	}{
		{name: "sample", leftover: "-", wantStdout: sample, quiet: true},
		{name: "no valid rows", leftover: "-", input: noValid, wantCode: worker.ExitFailed,
			wantLast: noValidError(noValid), wantDLQ: 1},
		{name: "failed leftover job", leftover: noValid, wantStdout: sample, wantDLQ: 1},
		{name: "good leftover job", leftover: tiny, input: noValid, wantCode: worker.ExitFailed,
			wantLast: noValidError(noValid), wantDLQ: 1,
			wantNext: []string{"Haunting report: " + tiny + "\n", sample}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := startMiniredis(t)
			if tt.leftover != "-" {
				emitJob(t, url, "-input", tt.leftover)
			}
			args := onRedis(url)
			if tt.input != "" {
				args = append(args, "-input", tt.input)
			}
			code, stdout, stderr := runCmd(context.Background(), args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if stdout != tt.wantStdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, tt.wantStdout)
			}
			if tt.quiet && stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			var etlLines []string
			for _, l := range strings.Split(stderr, "\n") {
				if strings.HasPrefix(l, "etl: ") {
					etlLines = append(etlLines, l)
				}
			}
			if tt.wantLast == "" && len(etlLines) > 0 {
				t.Errorf("stderr holds %q, want no etl: line", etlLines)
			}
			if tt.wantLast != "" {
				if got := lastLine(stderr); got != tt.wantLast || len(etlLines) != 1 {
					t.Errorf("stderr ends %q and has %d etl: lines; want only this job's dead letter:\n%s", got, len(etlLines), stderr)
				}
			}
			assertStream(t, url, tt.wantDLQ)
			if tt.wantNext == nil {
				return
			}
			code, stdout, stderr = runCmd(context.Background(), onRedis(url)...)
			if code != worker.ExitOK || !containsInOrder(stdout, tt.wantNext...) {
				t.Errorf("second run: exit %d, stdout:\n%s\nwant exit 0 and, in order: %q\nstderr:\n%s", code, stdout, tt.wantNext, stderr)
			}
		})
	}
}

// assertStream checks that nothing is pending on the ETL's stream and that
// its dead-letter stream holds wantDLQ entries.
func assertStream(t *testing.T, url string, wantDLQ int64) {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	pending, err := rdb.XPending(ctx, stream, nsredis.DefaultGroup).Result()
	if err != nil {
		t.Fatal(err)
	}
	if pending.Count != 0 {
		t.Errorf("XPENDING %s: %d entries pending, want 0", stream, pending.Count)
	}
	n, err := rdb.XLen(ctx, stream+":dlq").Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != wantDLQ {
		t.Errorf("%d dead letters, want %d", n, wantDLQ)
	}
}

// Emit refuses a file no worker could read, before enqueueing it; it
// enqueues to the stream -stream names.
func TestRedisEmit(t *testing.T) {
	t.Parallel()
	url := startMiniredis(t)
	missing := filepath.Join(t.TempDir(), "missing.csv")
	code, stdout, stderr := runCmd(context.Background(), onRedis(url, "-mode", "emit", "-input", missing)...)
	if want := "etl: open " + missing + ": no such file or directory\n"; code != worker.ExitFailed || stderr != want || stdout != "" {
		t.Errorf("emit of a missing file: exit %d, stdout %q, stderr %q; want exit 1 and only %q", code, stdout, stderr, want)
	}
	code, stdout, stderr = runCmd(context.Background(), onRedis(url, "-mode", "emit", "-stream", "other")...)
	if code != worker.ExitOK {
		t.Fatalf("emit to -stream other: exit %d; stderr:\n%s", code, stderr)
	}
	jobID(t, stdout, "other")
}

// TestRedisEmitWorker emits two jobs, one with a relative path, then runs a
// worker until both reports are printed.
func TestRedisEmitWorker(t *testing.T) {
	t.Parallel()
	sample := memorySample(t)
	url := startMiniredis(t)
	const relative = "../organs/sample/hauntings.csv"
	abs, err := filepath.Abs(relative)
	if err != nil {
		t.Fatal(err)
	}
	emitted := []string{emitJob(t, url), emitJob(t, url, "-input", relative)}

	stop, stdout, stderr := background(onRedis(url, "-mode", "worker", "-log-level", "info")...)
	waitFor(t, 10*time.Second, "two reports", func() bool { return strings.Count(stdout.String(), "Haunting report: ") >= 2 })
	if code := stop(); code != worker.ExitOK {
		t.Errorf("worker exit %d, want 0; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, sample) {
		t.Errorf("worker output lacks the sample's summary as memory mode prints it:\n%s", out)
	}
	for _, h := range []string{"Haunting report: " + organs.SampleSource + "\n", "Haunting report: " + abs + "\n"} {
		if n := strings.Count(out, h); n != 1 {
			t.Errorf("%d reports headed %q, want 1:\n%s", n, h, out)
		}
	}
	for _, id := range emitted {
		if want := `"msg":"report written","job_id":"` + id + `"`; !strings.Contains(stderr.String(), want) {
			t.Errorf("worker logs lack %s:\n%s", want, stderr.String())
		}
	}
	assertStream(t, url, 0)
}

// A job whose file the Extractor refused is done once the file is fixed
// and its dead letter redriven: the ETL's redrive is the runtime's.
func TestRedisRedrive(t *testing.T) {
	t.Parallel()
	url := startMiniredis(t)
	input := writeCSV(t, "when,where,who\n")
	if code, _, stderr := runCmd(context.Background(), onRedis(url, "-input", input)...); code != worker.ExitFailed || !strings.Contains(lastLine(stderr), "bad header") {
		t.Fatalf("run of a file with a bad header: exit %d; stderr:\n%s", code, stderr)
	}
	assertStream(t, url, 1)
	if err := os.WriteFile(input, []byte(tinyCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(context.Background(), onRedis(url, "-mode", "redrive")...)
	if want := "redrove 1 dead letter from necrostack:etl:dlq to necrostack:etl\n"; code != worker.ExitOK || stdout != want {
		t.Fatalf("redrive: exit %d, stdout %q, want %q; stderr:\n%s", code, stdout, want, stderr)
	}
	// The redriven job comes first, then the run's own.
	code, stdout, stderr = runCmd(context.Background(), onRedis(url)...)
	if code != worker.ExitOK || !containsInOrder(stdout, "Haunting report: "+input+"\n2 rows read: 2 kept", "Haunting report: "+organs.SampleSource) {
		t.Errorf("run after the redrive: exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	assertStream(t, url, 0)
}

// TestRealRedisWorkers runs the binary against a real redis-server: three
// jobs emitted, two worker processes sharing them, stopped by SIGTERM.
func TestRealRedisWorkers(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	bin := workertest.Build(t, "etl", ".")
	sample := memorySample(t)
	good := writeCSV(t, tinyCSV)
	bad := writeCSV(t, noValidCSV)
	url := srv.URL()

	runBin := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := workertest.Run(t.Context(), t, "etl", bin, onRedis(url, args...)...)
		if code != worker.ExitOK {
			t.Fatalf("etl %q: exit %d; stderr:\n%s", args, code, stderr)
		}
		return stdout
	}
	runBin("-mode", "emit")
	runBin("-mode", "emit", "-input", good)
	badJob := jobID(t, runBin("-mode", "emit", "-input", bad), stream)

	workers := make([]*workertest.Proc, 2)
	for i := range workers {
		name := fmt.Sprintf("worker-%d", i)
		workers[i] = workertest.Start(t, "etl "+name, bin, onRedis(url, "-mode", "worker", "-consumer", name)...)
	}
	allOut := func() string { return workers[0].Stdout() + workers[1].Stdout() }
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	heads := []string{"Haunting report: " + organs.SampleSource + "\n", "Haunting report: " + good + "\n"}
	waitFor(t, 60*time.Second, "two reports and a dead letter", func() bool {
		dlq, _ := rdb.XLen(ctx, stream+":dlq").Result()
		out := allOut()
		return strings.Contains(out, heads[0]) && strings.Contains(out, heads[1]) && dlq >= 1
	})

	for i, w := range workers {
		if err := w.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code, err := w.Wait(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if code != worker.ExitOK {
			t.Errorf("worker %d: exit %d, want 0; stderr:\n%s", i, code, w.Stderr())
		}
		for _, s := range []string{"panic", "goroutine "} {
			if strings.Contains(w.Stderr(), s) {
				t.Errorf("worker %d stderr holds %q:\n%s", i, s, w.Stderr())
			}
		}
	}
	out := allOut()
	for _, h := range heads {
		if n := strings.Count(out, h); n != 1 {
			t.Errorf("%d reports headed %q across the workers, want 1:\n%s", n, h, out)
		}
	}
	if n := strings.Count(out, "Haunting report: "); n != 2 {
		t.Errorf("%d reports, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, sample) {
		t.Errorf("the sample's report differs from memory mode's:\n%s", out)
	}

	b, err := nsredis.New(ctx, nsredis.Config{Client: rdb, Stream: stream, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dls, err := b.DeadLetters(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Organ != "Cleaner" || organs.JobOf(dls[0].Event) != badJob {
		t.Errorf("dead letters %+v, want one of the Cleaner, for job %s", dls, badJob)
	}
	assertStream(t, url, 1)
}

// TestRedisRunTakenOver runs a job while another consumer of the group is
// blocked reading the stream: Redis hands it the ETL_START, and the run,
// idle, must say so rather than succeed or wait forever. A real server makes
// that hand-over deterministic.
func TestRedisRunTakenOver(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.XGroupCreateMkStream(ctx, stream, nsredis.DefaultGroup, "0").Err(); err != nil {
		t.Fatal(err)
	}
	taken := make(chan []goredis.XStream, 1)
	go func() {
		streams, _ := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: nsredis.DefaultGroup, Consumer: "thief", Streams: []string{stream, ">"},
			Count: 1, Block: 10 * time.Second,
		}).Result()
		taken <- streams
	}()
	// Wait until the thief is blocked, so that it is first in line.
	waitFor(t, 5*time.Second, "the thief blocked", func() bool {
		n, err := rdb.Info(ctx, "clients").Result()
		return err == nil && strings.Contains(n, "blocked_clients:1")
	})

	code, stdout, stderr := runCmd(ctx, onRedis(srv.URL())...)
	streams := <-taken
	if len(streams) != 1 || len(streams[0].Messages) != 1 {
		t.Fatalf("the thief read %v, want one entry", streams)
	}
	raw, _ := streams[0].Messages[0].Values["event"].(string)
	e, err := core.DecodeEvent([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if code != worker.ExitFailed {
		t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr)
	}
	want := "etl: job " + e.ID() + ` did not finish here: another consumer of group "necrostack" on necrostack:etl took part of it, and reports there (with workers running, use -mode emit)`
	if got := lastLine(stderr); got != want {
		t.Errorf("last line of stderr:\n got  %q\n want %q", got, want)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
}
