package main

import (
	"context"
	"fmt"
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
	if code != 0 {
		t.Fatalf("memory run: exit %d; stderr:\n%s", code, stderr)
	}
	return stdout
}

var enqueuedRE = regexp.MustCompile(`^enqueued job ([0-9a-f-]{36}) to (\S+)\n$`)

// emitJob runs -mode emit and returns the job id it printed.
func emitJob(t *testing.T, url string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCmd(context.Background(), onRedis(url, append([]string{"-mode", "emit"}, args...)...)...)
	if code != 0 {
		t.Fatalf("emit %q: exit %d; stderr:\n%s", args, code, stderr)
	}
	m := enqueuedRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("emit printed %q, want \"enqueued job <id> to <stream>\"", stdout)
	}
	return m[1]
}

const tinyCSV = "date,location,spirit,sightings,intensity\n" +
	"2024-10-31,Crypt,Banshee,3,9.5\n" +
	"2024-11-02,Belfry,Banshee,2,6\n"

const noValidCSV = "date,location,spirit,sightings,intensity\n" +
	"2024-02-30,Crypt,Banshee,1,1\n" +
	"2024-10-31,Crypt,Banshee,lots,1\n"

func noValidError(path string) string {
	return "etl: Cleaner: no valid rows in " + path + " (2 rows dropped: bad_date 1, not_a_number 1)"
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

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
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
		{name: "no valid rows", leftover: "-", input: noValid, wantCode: 1,
			wantLast: noValidError(noValid), wantDLQ: 1},
		{name: "failed leftover job", leftover: noValid, wantStdout: sample, wantDLQ: 1},
		{name: "good leftover job", leftover: tiny, input: noValid, wantCode: 1,
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
			assertStream(t, url, defaultStream, tt.wantDLQ)
			if tt.wantNext == nil {
				return
			}
			code, stdout, stderr = runCmd(context.Background(), onRedis(url)...)
			if code != 0 || !containsInOrder(stdout, tt.wantNext...) {
				t.Errorf("second run: exit %d, stdout:\n%s\nwant exit 0 and, in order: %q\nstderr:\n%s", code, stdout, tt.wantNext, stderr)
			}
		})
	}
}

// assertStream checks that nothing is pending on stream and that its
// dead-letter stream holds wantDLQ entries.
func assertStream(t *testing.T, url, stream string, wantDLQ int64) {
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr workertest.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, onRedis(url, "-mode", "worker"), noEnv, &stdout, &stderr) }()
	wantHeaders := []string{"Haunting report: " + organs.SampleSource + "\n", "Haunting report: " + abs + "\n"}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(stdout.String(), "Haunting report: ") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("worker exit %d, want 0; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, sample) {
		t.Errorf("worker output lacks the sample's summary as memory mode prints it:\n%s", out)
	}
	for _, h := range wantHeaders {
		if n := strings.Count(out, h); n != 1 {
			t.Errorf("%d reports headed %q, want 1:\n%s", n, h, out)
		}
	}
	for _, id := range emitted {
		if want := `"job_id":"` + id + `"`; !strings.Contains(stderr.String(), want) {
			t.Errorf("worker logs lack %s:\n%s", want, stderr.String())
		}
	}
	assertStream(t, url, defaultStream, 0)
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	const url = "redis://u:secret@127.0.0.1:1"
	const want = "etl: cannot connect to redis at redis://u:xxxxx@127.0.0.1:1: "
	for _, mode := range []string{"run", "emit"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			begin := time.Now()
			code, stdout, stderr := runCmd(context.Background(), onRedis(url, "-mode", mode)...)
			if code != 1 {
				t.Errorf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr = %q, want one line starting %q", stderr, want)
			}
			if strings.Contains(stderr, "secret") {
				t.Errorf("stderr shows the password: %q", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if d := time.Since(begin); d > firstContactTimeout+time.Second {
				t.Errorf("took %v, want at most the first-contact timeout", d)
			}
		})
	}
	t.Run("worker", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdoutBuf, stderrBuf workertest.Buffer
		done := make(chan int)
		go func() { done <- run(ctx, onRedis(url, "-mode", "worker"), noEnv, &stdoutBuf, &stderrBuf) }()
		const want = "cannot connect to redis at redis://u:xxxxx@127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused; the worker keeps trying"
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderrBuf.String(), "pull failed") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		code := <-done
		stdout, stderr := stdoutBuf.String(), stderrBuf.String()
		if code != 0 {
			t.Errorf("exit %d, want 0 (stopped by its context); stderr:\n%s", code, stderr)
		}
		for _, s := range []string{want, `"msg":"pull failed; backing off"`} {
			if !strings.Contains(stderr, s) {
				t.Errorf("stderr lacks %q:\n%s", s, stderr)
			}
		}
		if strings.Contains(stderr, "secret") {
			t.Errorf("stderr shows the password:\n%s", stderr)
		}
		if stdout != "" {
			t.Errorf("stdout = %q, want nothing", stdout)
		}
	})
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
		if code != 0 {
			t.Fatalf("etl %q: exit %d; stderr:\n%s", args, code, stderr)
		}
		return stdout
	}
	jobID := func(out string) string {
		t.Helper()
		m := enqueuedRE.FindStringSubmatch(out)
		if m == nil || m[2] != defaultStream {
			t.Fatalf("emit printed %q, want \"enqueued job <id> to %s\"", out, defaultStream)
		}
		return m[1]
	}
	runBin("-mode", "emit")
	runBin("-mode", "emit", "-input", good)
	badJob := jobID(runBin("-mode", "emit", "-input", bad))

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
	deadline := time.Now().Add(60 * time.Second)
	for {
		dlq, _ := rdb.XLen(ctx, defaultStream+":dlq").Result()
		out := allOut()
		if strings.Contains(out, heads[0]) && strings.Contains(out, heads[1]) && dlq >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s: %d dead letters; outputs:\n%s\nstderr:\n%s\n%s",
				dlq, out, workers[0].Stderr(), workers[1].Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}

	for i, w := range workers {
		if err := w.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code, err := w.Wait(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if code != 0 {
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

	b, err := nsredis.New(ctx, nsredis.Config{Client: rdb, Stream: defaultStream})
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
	assertStream(t, url, defaultStream, 1)
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
	if err := rdb.XGroupCreateMkStream(ctx, defaultStream, nsredis.DefaultGroup, "0").Err(); err != nil {
		t.Fatal(err)
	}
	taken := make(chan []goredis.XStream, 1)
	go func() {
		streams, _ := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: nsredis.DefaultGroup, Consumer: "thief", Streams: []string{defaultStream, ">"},
			Count: 1, Block: 10 * time.Second,
		}).Result()
		taken <- streams
	}()
	// Wait until the thief is blocked, so that it is first in line.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := rdb.Info(ctx, "clients").Result()
		if err == nil && strings.Contains(n, "blocked_clients:1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the thief never blocked: %v\n%s", err, n)
		}
		time.Sleep(5 * time.Millisecond)
	}

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
	if code != 1 {
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
