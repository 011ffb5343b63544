//go:build mage

// NecroStack's build targets. Run `go tool mage -l` to list them.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/magefile/mage/mg"
)

// modules lists the workspace's library and app modules, in dependency
// order. The root module holds only tools and this file.
var modules = []string{
	"core",
	"backends/memory",
	"backends/redis",
	"necrotel",
	"worker",
	"necro",
	"apps/seance",
	"apps/etl",
	"apps/ledger",
	"examples",
	"bench",
}

// e2eModule holds the end-to-end scenarios: linted and built with the
// others, run by E2E.
const e2eModule = "e2e"

// benchModules are the modules with benchmarks.
var benchModules = []string{"core", "backends/memory", "backends/redis", "apps/seance"}

// Test vets and runs every module's tests with the race detector, then builds
// and tests each module on its own (GOWORK=off) as a user who requires it would.
func Test() error {
	for _, m := range modules {
		if err := goIn(m, nil, "vet", "./..."); err != nil {
			return err
		}
		if err := goIn(m, nil, "test", "-race", "-count=1", "./..."); err != nil {
			return err
		}
	}
	return TestStandalone()
}

// TestStandalone builds and tests each module with GOWORK=off, so that every
// module works through its own go.mod and replace directives.
func TestStandalone() error {
	off := []string{"GOWORK=off"}
	if err := goIn(e2eModule, off, "vet", "./..."); err != nil {
		return err
	}
	for _, m := range modules {
		// -o: a module that is one main package (necro) would write its binary.
		if err := goIn(m, off, "build", "-o", os.DevNull, "./..."); err != nil {
			return err
		}
		if err := goIn(m, off, "test", "-count=1", "-short", "./..."); err != nil {
			return err
		}
	}
	return nil
}

// Lint checks formatting (gofmt), go vet and staticcheck on every module.
func Lint() error {
	out, err := exec.Command("gofmt", "-l", ".").CombinedOutput()
	if err != nil {
		return fmt.Errorf("gofmt: %v\n%s", err, out)
	}
	if files := strings.TrimSpace(string(out)); files != "" {
		return fmt.Errorf("gofmt: these files need formatting:\n%s", files)
	}
	for _, m := range append(modules, e2eModule) {
		if err := goIn(m, nil, "vet", "./..."); err != nil {
			return err
		}
		if err := goIn(m, nil, "tool", "staticcheck", "./..."); err != nil {
			return err
		}
	}
	return nil
}

// BenchGo runs the Go benchmarks (handled events per second, allocations per
// event) with -benchmem.
func BenchGo() error {
	for _, m := range benchModules {
		if err := goIn(m, nil, "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "5", "./..."); err != nil {
			return err
		}
	}
	return nil
}

// Bench runs the benchmark command (bench/cmd): the séance chain on NecroStack
// and on Watermill, in memory and on Redis, one JSON line per run, CPU-bound
// and I/O-bound (every organ waiting 1 ms, 256 calls in flight), then the
// NecroStack/Watermill ratios, OpenTelemetry's overhead (-otel off, metrics,
// sampled, all) and the targets of issues #5 and #17. Unless
// NECROSTACK_BENCH_REDIS_URL names a Redis (without persistence), it starts
// two redis-servers on free loopback ports, one without persistence and one
// with appendfsync always (NECROSTACK_BENCH_REDIS_FSYNC_URL names your own;
// without it, an external setup skips that run). The servers it starts run
// on the last CPU and the Redis runs, of both systems, on the first (see
// benchPlacement; NECROSTACK_BENCH_PIN=0 turns that off). NECROSTACK_BENCH_RITUALS
// sets every run's rituals; NECROSTACK_BENCH_PROFILE_DIR receives a CPU and
// an allocation profile per run.
func Bench() error {
	dir, bin, err := buildBench()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	warnIfBusy()
	plainURL, fsyncURL := os.Getenv("NECROSTACK_BENCH_REDIS_URL"), os.Getenv("NECROSTACK_BENCH_REDIS_FSYNC_URL")
	var workerCPUs string
	if plainURL == "" {
		var redisCPUs string
		workerCPUs, redisCPUs = benchPlacement()
		plain, err := startRedis(filepath.Join(dir, "redis-none"), redisCPUs, "--save", "", "--appendonly", "no")
		if err != nil {
			return err
		}
		defer plain.stop()
		fsync, err := startRedis(filepath.Join(dir, "redis-fsync"), redisCPUs, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
		if err != nil {
			return err
		}
		defer fsync.stop()
		plainURL, fsyncURL = plain.url(), fsync.url()
	}

	runs := []benchRun{
		{name: "necrostack/memory", rituals: 2_000_000, args: []string{"-system", "necrostack", "-backend", "memory"}},
		{name: "watermill/memory", rituals: 300_000, args: []string{"-system", "watermill", "-backend", "memory"}},
		{name: "necrostack/redis", rituals: 300_000, args: []string{"-system", "necrostack", "-backend", "redis", "-redis-url", plainURL, "-persistence", "none"}},
		{name: "watermill/redis", rituals: 50_000, args: []string{"-system", "watermill", "-backend", "redis", "-redis-url", plainURL, "-persistence", "none"}},
		{name: "necrostack/redis-fsync", rituals: 100_000, args: []string{"-system", "necrostack", "-backend", "redis", "-redis-url", fsyncURL, "-persistence", "appendfsync-always"}},
		{name: "necrostack/redis-latency", rituals: 100_000, args: []string{"-system", "necrostack", "-backend", "redis", "-redis-url", plainURL, "-persistence", "none", "-rate", "10000"}},
	}
	// OpenTelemetry's overhead: each run again, fewer rituals, off and
	// with necrotel's metrics, 1% of spans, every span.
	for _, b := range []struct {
		name    string
		rituals int
		args    []string
	}{
		{"memory", 300_000, []string{"-backend", "memory"}},
		{"redis", 100_000, []string{"-backend", "redis", "-redis-url", plainURL, "-persistence", "none"}},
	} {
		for _, mode := range otelModes {
			runs = append(runs, benchRun{name: "necrostack/" + b.name + "-otel-" + mode, rituals: b.rituals,
				args: append([]string{"-system", "necrostack", "-otel", mode}, b.args...)})
		}
	}
	for _, io := range ioSeries(plainURL) { // the I/O-bound chain: every organ waits 1 ms
		runs = append(runs, benchRun{name: io.name + "-io", rituals: io.rituals,
			args: append(io.args, "-persistence", "none", "-handler-delay", "1ms", "-window", "1024")})
	}
	results := map[string]map[string]any{}
	for _, r := range runs {
		if strings.Contains(r.name, "/redis") {
			r.cpus = workerCPUs
		}
		if fsyncURL == "" && r.name == "necrostack/redis-fsync" {
			fmt.Println("==> necrostack/redis-fsync skipped: set NECROSTACK_BENCH_REDIS_FSYNC_URL to a Redis with appendfsync always")
			continue
		}
		res, err := r.run(bin)
		if err != nil {
			return err
		}
		results[r.name] = res
	}

	fmt.Println()
	fmt.Printf("%-8s %14s %14s %8s\n", "backend", "necrostack/s", "watermill/s", "ratio")
	for _, b := range []string{"memory", "redis"} {
		n, w := num(results["necrostack/"+b], "handled_per_s"), num(results["watermill/"+b], "handled_per_s")
		fmt.Printf("%-8s %14.0f %14.0f %7.1fx\n", b, n, w, n/w)
	}
	fmt.Println()
	fmt.Println("I/O-bound (every organ waits 1 ms, 256 calls in flight):")
	fmt.Printf("%-8s %14s %14s %8s %18s %18s\n", "backend", "necrostack/s", "watermill/s", "ratio", "cpu us/event", "redis us/event")
	for _, b := range []string{"memory", "redis"} {
		n, w := results["necrostack/"+b+"-io"], results["watermill/"+b+"-io"]
		cpu := fmt.Sprintf("%.1f / %.1f", num(n, "worker_cpu_us_per_handled"), num(w, "worker_cpu_us_per_handled"))
		rcpu := "-"
		if b == "redis" {
			rcpu = fmt.Sprintf("%.1f / %.1f", num(n, "redis_cpu_us_per_handled"), num(w, "redis_cpu_us_per_handled"))
		}
		fmt.Printf("%-8s %14.0f %14.0f %7.1fx %18s %18s\n", b, num(n, "handled_per_s"), num(w, "handled_per_s"), num(n, "handled_per_s")/num(w, "handled_per_s"), cpu, rcpu)
	}
	fmt.Println()
	fmt.Println("OpenTelemetry (necrotel), handled/s and against off:")
	fmt.Printf("%-8s", "backend")
	for _, mode := range otelModes {
		fmt.Printf(" %20s", mode)
	}
	fmt.Println()
	for _, b := range []string{"memory", "redis"} {
		off := num(results["necrostack/"+b+"-otel-off"], "handled_per_s")
		fmt.Printf("%-8s", b)
		for _, mode := range otelModes {
			n := num(results["necrostack/"+b+"-otel-"+mode], "handled_per_s")
			fmt.Printf(" %20s", fmt.Sprintf("%.0f (%.0f%%)", n, 100*n/off))
		}
		fmt.Println()
	}
	fmt.Println()
	fmt.Println("targets of issues #5 and #17 (2 cores):")
	memN, memW := num(results["necrostack/memory"], "handled_per_s"), num(results["watermill/memory"], "handled_per_s")
	redN, redW := num(results["necrostack/redis"], "handled_per_s"), num(results["watermill/redis"], "handled_per_s")
	target("memory, 1 worker: handled/s", memN, 1_000_000, ">=", "%.0f")
	target("memory: ratio to Watermill GoChannel", memN/memW, 8, ">=", "%.1fx")
	fmt.Printf("  %-46s %12.2f\n", "memory: allocations per handled event", num(results["necrostack/memory"], "allocs_per_handled"))
	target("redis, no persistence: handled/s", redN, 150_000, ">=", "%.0f")
	target("redis: ratio to watermill-redisstream", redN/redW, 10, ">=", "%.1fx")
	if res, ok := results["necrostack/redis-fsync"]; ok {
		target("redis, appendfsync always: handled/s", num(res, "handled_per_s"), 50_000, ">=", "%.0f")
	}
	target("redis at 10,000 rituals/s: p99 enqueue->omen", num(results["necrostack/redis-latency"], "p99_ms"), 5, "<", "%.2f ms")
	ioMem, ioRed := num(results["necrostack/memory-io"], "handled_per_s"), num(results["necrostack/redis-io"], "handled_per_s")
	target("I/O-bound memory, Concurrency 256: handled/s", ioMem, 200_000, ">=", "%.0f")
	target("I/O-bound redis, Concurrency 256: handled/s", ioRed, 150_000, ">=", "%.0f")
	target("I/O-bound redis: ratio to watermill-redisstream", ioRed/num(results["watermill/redis-io"], "handled_per_s"), 10, ">=", "%.1fx")
	fmt.Println("  (flat memory: go tool mage benchRSS; latency against load: go tool mage benchCurve)")
	return nil
}

// BenchRSS checks that a worker's memory stays flat: the max RSS of a
// NecroStack run of 1,000,000 rituals must be within 20% of that of a run of
// 100,000, in memory and on Redis (a local redis-server without persistence,
// unless NECROSTACK_BENCH_REDIS_URL names one).
func BenchRSS() error {
	dir, bin, err := buildBench()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	redisURL, stopRedis, err := benchRedis(dir)
	if err != nil {
		return err
	}
	defer stopRedis()
	var failed []string
	for _, backend := range []struct {
		name string
		args []string
	}{
		{"memory", []string{"-backend", "memory"}},
		{"redis", []string{"-backend", "redis", "-redis-url", redisURL}},
	} {
		var rss []float64
		for _, n := range []int{100_000, 1_000_000} {
			r := benchRun{name: fmt.Sprintf("necrostack/%s-rss-%d", backend.name, n), rituals: n, fixed: true,
				args: append([]string{"-system", "necrostack"}, backend.args...)}
			res, err := r.run(bin)
			if err != nil {
				return err
			}
			rss = append(rss, num(res, "max_rss_mb"))
		}
		ratio := rss[1] / rss[0]
		fmt.Printf("\n%s: max RSS %.1f MiB after 100,000 rituals, %.1f MiB after 1,000,000: ratio %.2f (limit 1.20)\n\n", backend.name, rss[0], rss[1], ratio)
		if ratio > 1.2 {
			failed = append(failed, fmt.Sprintf("%s: max RSS grew by %.0f%% from 100,000 to 1,000,000 rituals (limit 20%%)", backend.name, (ratio-1)*100))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("bench rss: %s", strings.Join(failed, "; "))
	}
	return nil
}

// benchRedis returns NECROSTACK_BENCH_REDIS_URL or, without it, the URL of a
// redis-server without persistence that it starts, unpinned, with its data
// in dir; stop stops what it started.
func benchRedis(dir string) (url string, stop func(), err error) {
	if url := os.Getenv("NECROSTACK_BENCH_REDIS_URL"); url != "" {
		return url, func() {}, nil
	}
	srv, err := startRedis(filepath.Join(dir, "redis-none"), "", "--save", "", "--appendonly", "no")
	if err != nil {
		return "", nil, err
	}
	return srv.url(), srv.stop, nil
}

// curveLoads are the offered rates of BenchCurve, in % of each series'
// measured maximum.
var curveLoads = []float64{10, 25, 50, 75, 90, 100, 110, 120}

// curveWarmup is how long, in seconds, each rate point runs before its
// latencies count (bench's -warmup, whose Config.Warmup says why; scaled
// like the rest). The warm-up's own p50 and p99 stay in each line.
const curveWarmup = 1.0

// BenchCurve measures latency against load for the I/O-bound chain (every
// organ waits 1 ms): for NecroStack (Concurrency 256) and Watermill (the
// same in-flight budget), in memory and on Redis, it measures each one's
// maximum in a closed loop (window 1,024), then enqueues rituals open loop
// at fixed rates from 10% to 120% of it: 8 s a point, 30 s at 120%, each
// after a second of warm-up at the same rate (curveWarmup) and each run
// failing unless every ritual completes exactly once. It writes the
// points to docs/bench/curve.jsonl and the chart to docs/bench/curve.svg
// (bench/cmd/curvechart), then checks the targets of issue 17, and runs
// NecroStack's Redis 50% point once more with -phases to print where a
// stage's time goes (not drawn: measuring slows the run). It starts a
// redis-server without persistence unless NECROSTACK_BENCH_REDIS_URL names
// one. Nothing is pinned to a CPU, unlike in Bench: below saturation a
// worker confined to one core waits for it while Redis's sits idle, which
// is not the latency a deployment sees (p99 at 50% load: 29 ms unpinned,
// 111 ms pinned, on the development machine). NECROSTACK_BENCH_CURVE_SCALE
// (default 1) scales every run's length.
func BenchCurve() error {
	scale := 1.0
	if env := os.Getenv("NECROSTACK_BENCH_CURVE_SCALE"); env != "" {
		v, err := strconv.ParseFloat(env, 64)
		if err != nil || !(v > 0) {
			return fmt.Errorf("NECROSTACK_BENCH_CURVE_SCALE=%q: want a positive number", env)
		}
		scale = v
	}
	dir, bin, err := buildBench()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	warnIfBusy()
	redisURL, stopRedis, err := benchRedis(dir)
	if err != nil {
		return err
	}
	defer stopRedis()
	// Watermill's GoChannel last: past its maximum it holds a goroutine per
	// message (gigabytes at 120%), and the host was still settling from
	// that when the next series' light loads ran (p99 at 10% load on Redis:
	// 832 ms right after it, 10 ms otherwise).
	series := ioSeries(redisURL)
	if i := slices.IndexFunc(series, func(s benchSeries) bool { return s.name == "watermill/memory" }); i >= 0 {
		series = append(append(series[:i:i], series[i+1:]...), series[i])
	}
	var lines []string
	byLoad := map[string]map[float64]map[string]any{}
	for _, s := range series {
		args := append(s.args, "-handler-delay", "1ms")
		maxRun := benchRun{name: s.name + " max", rituals: max(1, int(float64(s.rituals)*scale)), fixed: true,
			args: append(append([]string{}, args...), "-window", "1024")}
		res, err := maxRun.run(bin)
		if err != nil {
			return err
		}
		maxRate := num(res, "rituals_per_s")
		byLoad[s.name] = map[float64]map[string]any{0: res}
		res["series"], res["load_pct"] = s.name, 0
		for _, load := range curveLoads {
			secs := 8.0
			if load == 120 {
				secs = 30
			}
			rate := math.Round(maxRate * load / 100)
			r := ratePoint(fmt.Sprintf("%s at %.0f%%", s.name, load), args, rate, secs*scale, curveWarmup*scale)
			pr, err := r.run(bin)
			if err != nil {
				return err
			}
			pr["series"], pr["load_pct"] = s.name, load
			byLoad[s.name][load] = pr
		}
		for _, load := range append([]float64{0}, curveLoads...) {
			b, err := json.Marshal(byLoad[s.name][load])
			if err != nil {
				return err
			}
			lines = append(lines, string(b))
		}
	}
	if err := os.MkdirAll(filepath.Join("docs", "bench"), 0o755); err != nil {
		return err
	}
	jsonl, svg := filepath.Join("docs", "bench", "curve.jsonl"), filepath.Join("docs", "bench", "curve.svg")
	if err := os.WriteFile(jsonl, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Println("==> go run ./bench/cmd/curvechart -in " + jsonl + " -out " + svg)
	chart := exec.Command("go", "run", "./bench/cmd/curvechart", "-in", jsonl, "-out", svg)
	chart.Stdout, chart.Stderr = os.Stdout, os.Stderr
	if err := chart.Run(); err != nil {
		return fmt.Errorf("draw %s: %w", svg, err)
	}

	fmt.Println()
	fmt.Printf("%-18s %6s %9s %9s %10s %9s %9s %9s %11s %8s %8s %8s %7s\n", "series", "load", "offered/s", "rituals/s", "handled/s", "p50 ms", "p99 ms", "p99.9 ms", "warm p99 ms", "RSS MiB", "cpu us", "redis us", "steal %")
	for _, s := range series {
		for _, load := range append([]float64{0}, curveLoads...) {
			r := byLoad[s.name][load]
			label := fmt.Sprintf("%.0f%%", load)
			if load == 0 {
				label = "max"
			}
			fmt.Printf("%-18s %6s %9.0f %9.0f %10.0f %9.2f %9.2f %9.2f %11.2f %8.1f %8.2f %8.2f %7.1f\n", s.name, label, num(r, "rate"), num(r, "rituals_per_s"), num(r, "handled_per_s"),
				num(r, "p50_ms"), num(r, "p99_ms"), num(r, "p999_ms"), num(r, "warmup_p99_ms"), num(r, "max_rss_mb"), num(r, "worker_cpu_us_per_handled"), num(r, "redis_cpu_us_per_handled"), num(r, "host_steal_pct"))
		}
	}
	fmt.Println()
	fmt.Println("issue #17 targets (2 cores; every run above completed each ritual exactly once; the rate points' percentiles are of the rituals after their warm-up, \"warm p99\" of those in it):")
	target("redis at 50% of its maximum: p99 enqueue->omen", num(byLoad["necrostack/redis"][50], "p99_ms"), 16, "<", "%.2f ms")
	for _, s := range series {
		half, over := num(byLoad[s.name][50], "max_rss_mb"), num(byLoad[s.name][120], "max_rss_mb")
		target(s.name+" at 120% for 30 s: RSS against the 50% run", over/half, 2, "<=", "%.2fx")
	}
	// Where that 50% point's time goes: the same run again with -phases, a
	// run of its own (measuring slows it), not drawn.
	if i := slices.IndexFunc(series, func(s benchSeries) bool { return s.name == "necrostack/redis" }); i >= 0 {
		args := append(append([]string{}, series[i].args...), "-handler-delay", "1ms", "-phases")
		r := ratePoint("necrostack/redis at 50% with -phases", args, num(byLoad["necrostack/redis"][50], "rate"), 8*scale, curveWarmup*scale)
		res, err := r.run(bin)
		if err != nil {
			return err
		}
		printPhases(res)
	}
	return nil
}

// ratePoint is a curve point's run: args at rate rituals/s for about warmup
// and then secs seconds (at least one ritual), the latencies of the rituals
// due in the warm-up kept apart (bench's -warmup).
func ratePoint(name string, args []string, rate, secs, warmup float64) benchRun {
	return benchRun{name: name, rituals: max(1, int(rate*(warmup+secs))), fixed: true,
		args: append(append([]string{}, args...), "-rate", strconv.FormatFloat(rate, 'f', 0, 64),
			"-warmup", time.Duration(warmup*float64(time.Second)).String())}
}

// printPhases prints a -phases run's phases (mean / p50 / p99 µs), and their
// means added up: a stage's time, against the 4 ms a stage that the 16 ms
// target for the four allows.
func printPhases(res map[string]any) {
	phases, _ := res["phases"].(map[string]any)
	fmt.Println()
	fmt.Printf("where a stage's time goes at 50%% on redis (-phases; p50 %.2f ms, p99 %.2f ms in this run; mean / p50 / p99 µs):\n", num(res, "p50_ms"), num(res, "p99_ms"))
	stage := 0.0
	for _, p := range []struct{ key, what string }{
		{"read_us", "read (emitting commit settled -> Pull)"},
		{"dispatch_us", "dispatch (Pull -> organ starts)"},
		{"organ_us", "organ (waits 1 ms)"},
		{"commit_us", "commit (organ returns -> commit settled)"},
		{"commit_call_us", "  of which the commit call"},
	} {
		q, _ := phases[p.key].(map[string]any)
		fmt.Printf("  %-42s %8.0f / %8.0f / %8.0f\n", p.what, num(q, "mean"), num(q, "p50"), num(q, "p99"))
		if p.key != "commit_call_us" {
			stage += num(q, "mean")
		}
	}
	fmt.Printf("  %-42s %8.0f µs, against the 4,000 a stage that 16 ms for four allows\n", "a stage, the four means added", stage)
}

// ioSeries are the I/O-bound setups of Bench and BenchCurve: 256 organ
// calls in flight (Watermill on Redis: 64 handlers a stage; its GoChannel
// starts a goroutine per message), rituals for a closed-loop run of about
// 8 s on the development machine. Each args is a fresh slice.
func ioSeries(redisURL string) []benchSeries {
	return []benchSeries{
		{"necrostack/memory", 250_000, []string{"-system", "necrostack", "-backend", "memory", "-concurrency", "256"}},
		{"watermill/memory", 120_000, []string{"-system", "watermill", "-backend", "memory"}},
		{"necrostack/redis", 120_000, []string{"-system", "necrostack", "-backend", "redis", "-redis-url", redisURL, "-concurrency", "256"}},
		{"watermill/redis", 20_000, []string{"-system", "watermill", "-backend", "redis", "-redis-url", redisURL, "-concurrency", "64"}},
	}
}

type benchSeries struct {
	name    string
	rituals int
	args    []string
}

// target prints a figure against its goal: cmp is ">=", "<" or "<=", and
// format prints a value.
func target(what string, got, want float64, cmp, format string) {
	met := got >= want
	switch cmp {
	case "<":
		met = got < want
	case "<=":
		met = got <= want
	}
	mark := "met"
	if !met || math.IsNaN(got) {
		mark = "NOT MET"
	}
	fmt.Printf("  %-52s %12s  (want %s %s)  %s\n", what, fmt.Sprintf(format, got), cmp, fmt.Sprintf(format, want), mark)
}

// benchPlacement returns the CPUs for the Redis runs: the worker on the
// first, redis-server on the last, so that they do not take turns on the
// same core (on the 2-core development machine this gains 20-70% for both
// NecroStack and Watermill, depending on the host's load). NECROSTACK_BENCH_PIN=0, fewer than two CPUs or
// no taskset: no placement.
func benchPlacement() (worker, redis string) {
	if os.Getenv("NECROSTACK_BENCH_PIN") == "0" || runtime.NumCPU() < 2 {
		return "", ""
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return "", ""
	}
	return "0", strconv.Itoa(runtime.NumCPU() - 1)
}

// pinned returns the command name args, run on cpus with taskset when cpus
// is set (taskset execs it: the same process).
func pinned(cpus, name string, args ...string) *exec.Cmd {
	if cpus == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cpus, name}, args...)...)
}

func onCPUs(cpus string) string {
	if cpus == "" {
		return ""
	}
	return " (CPU " + cpus + ")"
}

// otelModes are the bench command's -otel values, in the order Bench runs
// and prints them.
var otelModes = []string{"off", "metrics", "sampled", "all"}

// buildBench builds the benchmark command, once for all runs, into a new
// temporary folder that the caller removes (also where the redis-servers it
// starts keep their files).
func buildBench() (dir, bin string, err error) {
	dir, err = os.MkdirTemp("", "necrobench-")
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, "necrobench")
	fmt.Println("==> go build -o necrobench ./bench/cmd")
	cmd := exec.Command("go", "build", "-o", bin, "./bench/cmd")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("build bench/cmd: %w", err)
	}
	return dir, bin, nil
}

// warnIfBusy says so when other processes keep the machine busy: the ratios
// then still mean something, the absolute figures less.
func warnIfBusy() {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return
	}
	if load, err := strconv.ParseFloat(fields[0], 64); err == nil && load >= 0.5 {
		fmt.Printf("==> warning: load average %.2f before the runs: other processes are busy, figures will come out low\n", load)
	}
}

// stealWarnPct is the share of the host's CPU time stolen by the hypervisor
// (host_steal_pct) above which a run's figures are flagged as disturbed.
const stealWarnPct = 5

// benchRun is one run of the benchmark command.
type benchRun struct {
	name    string
	rituals int // default; NECROSTACK_BENCH_RITUALS overrides it unless fixed
	fixed   bool
	args    []string
	cpus    string // taskset CPU list to run on; "" for any
}

// run runs r, prints its JSON line and returns it decoded.
func (r benchRun) run(bin string) (map[string]any, error) {
	n := strconv.Itoa(r.rituals)
	if env := os.Getenv("NECROSTACK_BENCH_RITUALS"); env != "" && !r.fixed {
		if v, err := strconv.Atoi(env); err != nil || v < 1 {
			return nil, fmt.Errorf("NECROSTACK_BENCH_RITUALS=%q: want a positive integer", env)
		}
		n = env
	}
	args := append([]string{"-rituals", n}, r.args...)
	if dir := os.Getenv("NECROSTACK_BENCH_PROFILE_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		base := filepath.Join(dir, strings.ReplaceAll(strings.ReplaceAll(r.name, "/", "-"), " ", "-"))
		args = append(args, "-cpuprofile", base+".cpu.pprof", "-memprofile", base+".allocs.pprof")
	}
	fmt.Printf("==> %s (%s rituals)%s\n", r.name, n, onCPUs(r.cpus))
	cmd := pinned(r.cpus, bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("bench %s: %w", r.name, err)
	}
	line := strings.TrimSpace(string(out))
	fmt.Println(line)
	var res map[string]any
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return nil, fmt.Errorf("bench %s: %v in %q", r.name, err, line)
	}
	if steal := num(res, "host_steal_pct"); steal > stealWarnPct {
		fmt.Printf("==> note: the hypervisor stole %.1f%% of the host's CPU time during %s: its figures measured the neighbours too\n", steal, r.name)
	}
	return res, nil
}

// num reads a number from a decoded JSON line; NaN when absent.
func num(res map[string]any, key string) float64 {
	if v, ok := res[key].(float64); ok {
		return v
	}
	return math.NaN()
}

// redisServer is a redis-server child process on a loopback port.
type redisServer struct {
	cmd  *exec.Cmd
	port int
	done chan struct{}
}

func (s *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d", s.port) }

func (s *redisServer) stop() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// startRedis starts redis-server with its data in dir (created) and the extra
// args, on a free loopback port, and waits until it answers PING.
func startRedis(dir, cpus string, args ...string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found: install it (apt-get install redis-server) or set NECROSTACK_BENCH_REDIS_URL")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var last error
	for range 5 { // the free port may be taken before redis-server binds it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := pinned(cpus, bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", dir, "--protected-mode", "no", "--logfile", filepath.Join(dir, "redis.log")}, args...)...)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		s := &redisServer{cmd: cmd, port: port, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(s.done) }()
		if last = s.waitReady(); last == nil {
			fmt.Printf("==> redis-server on 127.0.0.1:%d %s%s\n", port, strings.Join(args, " "), onCPUs(cpus))
			return s, nil
		}
		s.stop()
	}
	log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
	return nil, fmt.Errorf("start redis-server: %v\n%s", last, log)
}

func (s *redisServer) waitReady() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.done:
			return errors.New("redis-server exited")
		default:
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(time.Second))
			reply := make([]byte, 7)
			_, err = conn.Write([]byte("PING\r\n"))
			if err == nil {
				_, err = io.ReadFull(conn, reply)
			}
			conn.Close()
			if err == nil && string(reply) == "+PONG\r\n" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on port %d did not answer PING: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fuzzTargets lists every fuzz test, by module and package (relative to
// the module's folder).
var fuzzTargets = []struct{ module, pkg, name string }{
	{"core", ".", "FuzzDecodeEvent"},
	{"core", ".", "FuzzDecodeCanonical"},
	{"core", ".", "FuzzEventRoundTrip"},
	{"core", "./internal/jsonfast", "FuzzCanonicalValidJSON"},
	{"core", "./internal/jsonfast", "FuzzFlatEncode"},
	{"core", "./internal/jsonfast", "FuzzFlatDecode"},
	{"core", "./internal/jsonfast", "FuzzPlainString"},
	{"backends/redis", ".", "FuzzDecodeEntry"},
}

// Fuzz runs each fuzz test for 30 seconds (NECROSTACK_FUZZTIME sets another
// duration).
func Fuzz() error {
	d := os.Getenv("NECROSTACK_FUZZTIME")
	if d == "" {
		d = "30s"
	}
	for _, f := range fuzzTargets {
		if err := goIn(f.module, nil, "test", "-run", "^$", "-fuzz", "^"+f.name+"$", "-fuzztime", d, f.pkg); err != nil {
			return err
		}
	}
	return nil
}

// E2E runs the end-to-end scenarios: a real Redis in Docker (else a
// redis-server process) and the apps' binaries as worker processes.
func E2E() error {
	env := []string{"TESTCONTAINERS_RYUK_DISABLED=true"}
	return goIn(e2eModule, env, "test", "-count=1", "-timeout", "15m", "-v", "./...")
}

// CI runs what continuous integration runs: lint, the tests, the release
// check, then the end-to-end scenarios.
func CI() {
	mg.SerialDeps(Lint, Test, ReleaseCheck, E2E)
}

// Tidy runs go mod tidy in every module and the root.
func Tidy() error {
	for _, m := range append(append([]string{"."}, modules...), e2eModule) {
		if err := goIn(m, nil, "mod", "tidy"); err != nil {
			return err
		}
	}
	return nil
}

// goIn runs the go command in module dir with extra environment, streaming
// its output, and names the module in the error.
func goIn(dir string, env []string, args ...string) error {
	fmt.Printf("==> (%s) go %s\n", dir, strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Clean(dir)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("%s: go %s: exit status %d", dir, strings.Join(args, " "), exit.ExitCode())
		}
		return fmt.Errorf("%s: go %s: %w", dir, strings.Join(args, " "), err)
	}
	return nil
}

// BenchPartitions runs the séance chain (CPU-bound, 100,000 rituals) on
// Redis with P = 1 and P = 16 partitions, shared and ordered mode, on one
// redis-server and on a cluster of three masters (redis-server processes
// on loopback ports, formed here), in three alternating rounds; it prints
// every JSON line, writes them to docs/bench/partitions.jsonl, and then the
// medians with Redis CPU per handled event (all masters' INFO cpu) and the
// issue-16 target (one server: P = 16 within 10% of P = 1).
func BenchPartitions() error {
	dir, bin, err := buildBench()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	warnIfBusy()
	single, err := startRedis(filepath.Join(dir, "single"), "", "--save", "", "--appendonly", "no")
	if err != nil {
		return err
	}
	defer single.stop()
	var nodes []*redisServer
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	buses := make([]int, 3)
	for i := range buses {
		if buses[i], err = freeLoopbackPort(); err != nil {
			return err
		}
		n, err := startRedis(filepath.Join(dir, fmt.Sprint("node", i)), "", "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-announce-ip", "127.0.0.1",
			"--cluster-port", strconv.Itoa(buses[i]))
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	if err := formCluster(nodes, buses); err != nil {
		return err
	}
	clusterURL := nodes[0].url() + "?cluster=true&addr=" + strings.TrimPrefix(nodes[1].url(), "redis://") + "&addr=" + strings.TrimPrefix(nodes[2].url(), "redis://")
	type series struct{ target, mode, url string }
	var all []series
	for _, t := range []struct{ name, url string }{{"server", single.url()}, {"cluster", clusterURL}} {
		for _, mode := range []string{"P=1", "P=16", "P=16 ordered"} {
			all = append(all, series{t.name, mode, t.url})
		}
	}
	out, err := os.Create(filepath.Join("docs", "bench", "partitions.jsonl"))
	if err != nil {
		return err
	}
	defer out.Close()
	results := map[series][]map[string]any{}
	for round := range 3 {
		for _, s := range all {
			args := []string{"-system", "necrostack", "-backend", "redis", "-redis-url", s.url, "-persistence", "none", "-partitions", "1"}
			if strings.HasPrefix(s.mode, "P=16") {
				args[len(args)-1] = "16"
			}
			if strings.HasSuffix(s.mode, "ordered") {
				args = append(args, "-ordered")
			}
			res, err := benchRun{name: fmt.Sprintf("%s %s (round %d)", s.target, s.mode, round+1), rituals: 100_000, args: args}.run(bin)
			if err != nil {
				return err
			}
			res["series"] = s.target + " " + s.mode
			line, _ := json.Marshal(res)
			fmt.Fprintf(out, "%s\n", line)
			results[s] = append(results[s], res)
		}
	}
	median := func(rs []map[string]any, key string) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = num(r, key)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	fmt.Println()
	fmt.Printf("%-22s %14s %18s %18s\n", "series (median of 3)", "handled/s", "redis us/handled", "worker us/handled")
	for _, s := range all {
		fmt.Printf("%-22s %14.0f %18.2f %18.2f\n", s.target+" "+s.mode, median(results[s], "handled_per_s"),
			median(results[s], "redis_cpu_us_per_handled"), median(results[s], "worker_cpu_us_per_handled"))
	}
	p1, p16 := median(results[all[0]], "handled_per_s"), median(results[all[1]], "handled_per_s")
	fmt.Println()
	target("one server: P = 16 shared against P = 1", p16/p1, 0.9, ">=", "%.2f")
	fmt.Println("  (lines in docs/bench/partitions.jsonl)")
	return nil
}

// freeLoopbackPort returns a loopback port nobody listened on a moment ago.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// formCluster makes a cluster of nodes (started with cluster mode on and
// their bus ports): each meets the first, the masters share the 16,384
// slots in equal ranges, and it waits until each says the cluster is ok.
func formCluster(nodes []*redisServer, buses []int) error {
	for i, n := range nodes[1:] {
		if _, err := redisInline(nodes[0].port, fmt.Sprintf("CLUSTER MEET 127.0.0.1 %d %d", n.port, buses[i+1])); err != nil {
			return err
		}
	}
	for i, n := range nodes {
		lo, hi := i*16384/len(nodes), (i+1)*16384/len(nodes)-1
		if _, err := redisInline(n.port, fmt.Sprintf("CLUSTER ADDSLOTSRANGE %d %d", lo, hi)); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for {
			info, err := redisInline(n.port, "CLUSTER INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("cluster not ok on 127.0.0.1:%d: %v %s", n.port, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	fmt.Printf("==> cluster of %d masters formed\n", len(nodes))
	return nil
}

// redisInline sends one inline command to the redis-server on port and
// returns its reply: a status, an error, or a bulk string.
func redisInline(port int, cmd string) (string, error) {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("%s: %s", cmd, line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s: reply %q", cmd, line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return strings.TrimPrefix(line, "+"), nil
}
