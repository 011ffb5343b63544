package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/bench"
)

// runOK runs the command with args and returns its one JSON line, decoded.
func runOK(t *testing.T, args ...string) (bench.Result, map[string]any) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("run %q: exit %d, stderr:\n%s", args, code, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("run %q: %d lines on stdout, want 1:\n%s", args, len(lines), stdout.String())
	}
	var res bench.Result
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("run %q: %v in %s", args, err, lines[0])
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &fields); err != nil {
		t.Fatal(err)
	}
	return res, fields
}

// checkResult checks what every run must print.
func checkResult(t *testing.T, res bench.Result, fields map[string]any, system, backend string, rituals, concurrency int, persistence string) {
	t.Helper()
	for _, k := range []string{"system", "backend", "chain", "rituals", "handled", "seconds", "handled_per_s",
		"p50_ms", "p99_ms", "p999_ms", "rituals_per_s", "allocs_per_handled", "max_rss_mb", "concurrency", "persistence", "rate", "window", "gomaxprocs", "otel",
		"handler_delay_ms", "worker_cpu_us_per_handled"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("field %q missing from %v", k, fields)
		}
	}
	if res.System != system || res.Backend != backend || res.Chain != "seance" {
		t.Errorf("system/backend/chain = %s/%s/%s, want %s/%s/seance", res.System, res.Backend, res.Chain, system, backend)
	}
	if res.Rituals != rituals || res.Handled != int64(4*rituals) {
		t.Errorf("rituals %d, handled %d; want %d and %d", res.Rituals, res.Handled, rituals, 4*rituals)
	}
	if res.Concurrency != concurrency || res.Persistence != persistence {
		t.Errorf("concurrency %d, persistence %q; want %d and %q", res.Concurrency, res.Persistence, concurrency, persistence)
	}
	if res.Seconds <= 0 || res.HandledPerS <= 0 || res.AllocsPerHandled <= 0 || res.MaxRSSMB <= 0 {
		t.Errorf("seconds %v, handled/s %v, allocs/handled %v, max RSS %v: want all positive",
			res.Seconds, res.HandledPerS, res.AllocsPerHandled, res.MaxRSSMB)
	}
	if res.P50Ms <= 0 || res.P99Ms < res.P50Ms || res.P999Ms < res.P99Ms {
		t.Errorf("p50 %v ms, p99 %v ms, p99.9 %v ms: want 0 < p50 <= p99 <= p99.9", res.P50Ms, res.P99Ms, res.P999Ms)
	}
	// seconds is rounded to the millisecond
	if lo, hi := float64(res.Rituals)/(res.Seconds+0.0005), float64(res.Rituals)/(res.Seconds-0.0005); res.RitualsPerS < lo-1 || res.RitualsPerS > hi+1 {
		t.Errorf("rituals/s %v, want rituals / seconds (%.0f to %.0f)", res.RitualsPerS, lo, hi)
	}
	if res.WorkerCPUUs <= 0 {
		t.Errorf("worker CPU %v µs per handled event: want positive", res.WorkerCPUUs)
	}
	// The host's shares need the kernel's ticks (10 ms) to have moved.
	if runtime.GOOS == "linux" && res.Seconds >= 0.1 && (res.HostBusyPct == nil || res.HostStealPct == nil) {
		t.Errorf("host_busy_pct %v, host_steal_pct %v: want both on Linux", fields["host_busy_pct"], fields["host_steal_pct"])
	}
	if res.HostBusyPct != nil && res.HostStealPct != nil {
		if busy, steal := *res.HostBusyPct, *res.HostStealPct; busy < 0 || steal < 0 || busy+steal > 100.1 {
			t.Errorf("host %v%% busy and %v%% stolen: want shares of 100%%", busy, steal)
		}
	}
	if _, ok := fields["redis_cpu_us_per_handled"]; ok != (backend == "redis") {
		t.Errorf("redis_cpu_us_per_handled present %v on %s", ok, backend)
	} else if backend == "redis" && res.RedisCPUUs <= 0 {
		t.Errorf("Redis CPU %v µs per handled event: want positive", res.RedisCPUUs)
	}
}

func TestMemory(t *testing.T) {
	for _, tc := range []struct {
		system      string
		concurrency int
	}{
		{"necrostack", 1},
		{"necrostack", 4},
		{"watermill", 1},
	} {
		t.Run(fmt.Sprintf("%s/concurrency=%d", tc.system, tc.concurrency), func(t *testing.T) {
			res, fields := runOK(t, "-system", tc.system, "-rituals", "200", "-concurrency", fmt.Sprint(tc.concurrency))
			checkResult(t, res, fields, tc.system, "memory", 200, tc.concurrency, "none")
			if res.Rate != 0 || res.Window != bench.DefaultWindow {
				t.Errorf("rate %v, window %d; want 0 and %d", res.Rate, res.Window, bench.DefaultWindow)
			}
		})
	}
}

// With -otel, the chain runs instrumented: the run checks that the
// necrostack.handled metric counted every organ call, and says which
// instrumentation it measured.
func TestOTel(t *testing.T) {
	for _, mode := range []string{"off", "metrics", "sampled", "all"} {
		t.Run(mode, func(t *testing.T) {
			res, fields := runOK(t, "-rituals", "200", "-concurrency", "2", "-otel", mode)
			checkResult(t, res, fields, "necrostack", "memory", 200, 2, "none")
			if res.OTel != mode {
				t.Errorf("otel %q, want %q", res.OTel, mode)
			}
		})
	}
}

// -handler-delay makes every organ of both systems wait, as an I/O call
// would: a run takes at least the waits it cannot overlap (all of them at
// NecroStack's Concurrency 1; a ritual's four stages in a row for
// Watermill), and says what it waited.
func TestHandlerDelay(t *testing.T) {
	const rituals, delay = 30, 2 * time.Millisecond
	for _, c := range []struct {
		system  string
		minimum time.Duration
	}{
		{"necrostack", 4 * rituals * delay},
		{"watermill", 4 * delay},
	} {
		res, fields := runOK(t, "-system", c.system, "-rituals", fmt.Sprint(rituals), "-handler-delay", delay.String())
		checkResult(t, res, fields, c.system, "memory", rituals, 1, "none")
		if res.HandlerDelayMs != 2 || res.Seconds < c.minimum.Seconds() || res.P50Ms < 4*2 {
			t.Errorf("%s: handler delay %v ms, %v s, p50 %v ms; want 2 ms, at least %v, and a p50 of at least four waits",
				c.system, res.HandlerDelayMs, res.Seconds, res.P50Ms, c.minimum)
		}
	}
}

// TestPhases checks -phases: every event's four phases measured (a seed has
// no read), organs waiting at least their delay, and commits carrying them.
func TestPhases(t *testing.T) {
	const rituals, delay = 40, time.Millisecond
	res, fields := runOK(t, "-rituals", fmt.Sprint(rituals), "-concurrency", "8", "-handler-delay", delay.String(), "-phases")
	checkResult(t, res, fields, "necrostack", "memory", rituals, 8, "none")
	p := res.Phases
	if p == nil {
		t.Fatalf("no phases in %v", fields)
	}
	events := int64(4 * rituals)
	// Taken once the workers have stopped: every phase of every event.
	if p.Read.N != events-rituals || p.Dispatch.N != events || p.Organ.N != events || p.Commit.N != events {
		t.Errorf("measured %d reads, %d dispatches, %d organ calls, %d commits; want %d, %d, %d and %d",
			p.Read.N, p.Dispatch.N, p.Organ.N, p.Commit.N, events-rituals, events, events, events)
	}
	if p.Organ.P50 < 1000 || p.Organ.Mean < 1000 || p.Organ.P99 < p.Organ.P50 {
		t.Errorf("organ %+v µs: want each call's 1 ms wait in it", p.Organ)
	}
	if p.Dispatch.P50 < 0 || p.Commit.P50 <= 0 || p.CommitCall.P50 <= 0 || p.CommitBatch.P50 < 1 || p.CommitBatch.N != p.Commit.N {
		t.Errorf("dispatch %+v, commit %+v, commit call %+v, batch %+v: want them measured, a batch of at least one",
			p.Dispatch, p.Commit, p.CommitCall, p.CommitBatch)
	}
	if _, fields := runOK(t, "-rituals", "5"); fields["phases"] != nil {
		t.Errorf("phases %v without -phases", fields["phases"])
	}
}

func TestRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	srv := redistest.Start(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		system      string
		concurrency int
	}{
		{"necrostack", 1},
		{"necrostack", 3},
		{"watermill", 1},
		{"watermill", 2},
	} {
		t.Run(fmt.Sprintf("%s/concurrency=%d", tc.system, tc.concurrency), func(t *testing.T) {
			res, fields := runOK(t, "-system", tc.system, "-backend", "redis", "-redis-url", srv.URL(),
				"-rituals", "200", "-concurrency", fmt.Sprint(tc.concurrency), "-persistence", "test")
			checkResult(t, res, fields, tc.system, "redis", 200, tc.concurrency, "test")
			if keys, err := rdb.Keys(ctx, "*").Result(); err != nil || len(keys) != 0 {
				t.Errorf("keys left after the run: %q (%v)", keys, err)
			}
		})
	}

	for _, args := range [][]string{{"-partitions", "4"}, {"-partitions", "4", "-ordered"}, {"-ordered"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res, fields := runOK(t, append([]string{"-backend", "redis", "-redis-url", srv.URL(), "-rituals", "200", "-persistence", "test"}, args...)...)
			checkResult(t, res, fields, "necrostack", "redis", 200, 1, "test")
			wantP := 1
			if slices.Contains(args, "-partitions") {
				wantP = 4
			}
			if res.Partitions != wantP || res.Ordered != slices.Contains(args, "-ordered") {
				t.Errorf("partitions %d, ordered %v for %v", res.Partitions, res.Ordered, args)
			}
			if keys, err := rdb.Keys(ctx, "*").Result(); err != nil || len(keys) != 0 {
				t.Errorf("keys left after the run: %q (%v)", keys, err)
			}
		})
	}

	t.Run("existing stream", func(t *testing.T) {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: "taken", Values: []any{"event", "{}"}}).Err(); err != nil {
			t.Fatal(err)
		}
		defer rdb.Del(ctx, "taken")
		var stdout, stderr bytes.Buffer
		code := run(ctx, []string{"-backend", "redis", "-redis-url", srv.URL(), "-rituals", "10", "-stream", "taken"}, &stdout, &stderr)
		if code != 1 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "already exist") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, and a message about the existing key", code, stdout.String(), stderr.String())
		}
		if n, _ := rdb.XLen(ctx, "taken").Result(); n != 1 {
			t.Errorf("the existing stream holds %d entries, want it untouched (1)", n)
		}
	})
}

// On a cluster of three masters (a URL with cluster=true), shared and
// ordered: the Redis CPU is all the masters', and no key is left.
func TestRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs redis-server")
	}
	c := redistest.StartCluster(t, 3, 0)
	url := "redis://" + c.Addrs()[0] + "?cluster=true"
	for _, args := range [][]string{{"-partitions", "8"}, {"-partitions", "8", "-ordered"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			res, fields := runOK(t, append([]string{"-backend", "redis", "-redis-url", url, "-rituals", "300", "-persistence", "test"}, args...)...)
			checkResult(t, res, fields, "necrostack", "redis", 300, 1, "test")
			for _, n := range c.Masters {
				rdb := goredis.NewClient(&goredis.Options{Addr: n.Addr()})
				keys, err := rdb.Keys(context.Background(), "*").Result()
				rdb.Close()
				if err != nil || len(keys) != 0 {
					t.Errorf("%s: keys left after the run: %q (%v)", n.Addr(), keys, err)
				}
			}
		})
	}
}

func TestRate(t *testing.T) {
	res, fields := runOK(t, "-rituals", "200", "-rate", "2000")
	checkResult(t, res, fields, "necrostack", "memory", 200, 1, "none")
	// 200 rituals at 2,000/s take 0.1s, whatever the speed of the system.
	if res.Seconds < 0.09 || res.Rate != 2000 || res.Window != 200 {
		t.Errorf("seconds %v, rate %v, window %d; want ≥0.09, 2000 and 200", res.Seconds, res.Rate, res.Window)
	}
}

func TestWarmup(t *testing.T) {
	res, fields := runOK(t, "-rituals", "400", "-rate", "2000", "-warmup", "50ms")
	checkResult(t, res, fields, "necrostack", "memory", 400, 1, "none")
	// The first 100 rituals (50 ms at 2,000/s) are the warm-up's: their
	// latencies have their own fields, and those of the other 300 the usual.
	if res.WarmupS != 0.05 || res.WarmupRituals != 100 {
		t.Errorf("warmup_s %v, warmup_rituals %d; want 0.05 and 100", res.WarmupS, res.WarmupRituals)
	}
	warmupFields := []string{"warmup_s", "warmup_rituals", "warmup_p50_ms", "warmup_p99_ms"}
	for _, k := range warmupFields {
		if v, ok := fields[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, fields[k])
		}
	}
	if res.WarmupP50Ms > res.WarmupP99Ms {
		t.Errorf("warm-up p50 %v ms above its p99 %v ms", res.WarmupP50Ms, res.WarmupP99Ms)
	}
	// Without -warmup the fields are left out.
	_, fields = runOK(t, "-rituals", "100", "-rate", "2000")
	for _, k := range warmupFields {
		if _, ok := fields[k]; ok {
			t.Errorf("%s = %v without -warmup, want it left out", k, fields[k])
		}
	}
}

func TestBadCommandLines(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-system", "kafka"}, 2, `system "kafka"`},
		{[]string{"-backend", "postgres"}, 2, `backend "postgres"`},
		{[]string{"-rituals", "0"}, 2, "rituals 0"},
		{[]string{"-backend", "redis"}, 2, "Redis URL is required"},
		{[]string{"-system", "watermill", "-concurrency", "2"}, 2, "GoChannel"},
		{[]string{"-rate", "-1"}, 2, "rate -1"},
		{[]string{"-window", "0"}, 2, "window 0"},
		{[]string{"-concurrency", "0"}, 2, "concurrency 0"},
		{[]string{"-stall", "0s"}, 2, "stall 0s"},
		{[]string{"-otel", "yes"}, 2, `otel "yes": want off, metrics, sampled or all`},
		{[]string{"-system", "watermill", "-otel", "all"}, 2, "otel all: instruments NecroStack only"},
		{[]string{"-system", "watermill", "-phases"}, 2, "phases: measured with NecroStack's Observer, not on watermill"},
		{[]string{"-handler-delay", "-1ms"}, 2, "handler delay -1ms: must not be negative"},
		{[]string{"-rate", "100", "-warmup", "-1s"}, 2, "warmup -1s: must not be negative"},
		{[]string{"-warmup", "1s"}, 2, "warmup 1s: needs a rate"},
		{[]string{"-rate", "100", "-rituals", "100", "-warmup", "1s"}, 2, "warmup 1s at rate 100 is 100 rituals: want fewer than the run's 100"},
		{[]string{"extra"}, 2, "unexpected arguments"},
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"-h"}, 0, "usage: necrobench"},
		{[]string{"-backend", "redis", "-redis-url", "redis://127.0.0.1:1", "-rituals", "1"}, 1, "necrobench necrostack/redis"},
		{[]string{"-system", "watermill", "-backend", "redis", "-redis-url", "redis://127.0.0.1:1", "-rituals", "1"}, 1, "necrobench watermill/redis"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code || stdout.Len() != 0 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, nothing on stdout, %q on stderr",
					code, stdout.String(), stderr.String(), tc.code, tc.want)
			}
		})
	}
}
