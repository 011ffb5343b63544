package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/apps/seance/organs"
	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker"
	"github.com/necrostack/necrostack/worker/workertest"
)

var emitLine = regexp.MustCompile(`^enqueued (\d+) rituals? \(séance ([\w-]+)\) to (\S+)\n$`)

// randomID matches the id a séance on Redis gets when -seance is not
// given.
var randomID = regexp.MustCompile(`^[a-z2-7]{8}$`)

// redisArgs returns the flags of a run on the Redis at url, then more.
func redisArgs(url string, more ...string) []string {
	return append([]string{"-backend", "redis", "-redis-url", url}, more...)
}

// defaultStream is the séance's stream, App.Stream.
const defaultStream = "necrostack:seance"

// emitOK runs -mode emit and returns the séance id it printed.
func emitOK(t *testing.T, url string, more ...string) string {
	t.Helper()
	stdout, _ := runOK(t, redisArgs(url, append([]string{"-mode", "emit"}, more...)...)...)
	m := emitLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("emit printed %q, want a line matching %s", stdout, emitLine)
	}
	if m[3] != defaultStream {
		t.Errorf("emit printed stream %q, want %q", m[3], defaultStream)
	}
	if !slices.Contains(more, "-seance") && !randomID.MatchString(m[2]) {
		t.Errorf("emit printed séance %q, want a random id (%s)", m[2], randomID)
	}
	return m[2]
}

// onlySeance returns the one séance id of the printed rituals.
func onlySeance(t *testing.T, s shape) string {
	t.Helper()
	ids := map[string]bool{}
	for id := range s.rituals {
		ids[id.seance] = true
	}
	if len(ids) != 1 {
		t.Fatalf("printed rituals of séances %v, want one", ids)
	}
	for id := range ids {
		return id
	}
	return ""
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTestBackend opens a backend on the séance's default stream and group,
// to seed it or inspect it.
func openTestBackend(t *testing.T, url string) *nsredis.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := nsredis.New(ctx, nsredis.Config{URL: url, Stream: defaultStream, Logger: discardLogger()})
	if err != nil {
		t.Fatalf("nsredis.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// checkDrained checks that the group has nothing pending and that the
// stream has no dead letters.
func checkDrained(t *testing.T, rdb goredis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	pending, err := rdb.XPending(ctx, defaultStream, nsredis.DefaultGroup).Result()
	if err != nil {
		t.Fatalf("XPENDING: %v", err)
	}
	if pending.Count != 0 {
		t.Errorf("XPENDING: %d entries pending (%v), want 0", pending.Count, pending.Consumers)
	}
	if n, err := rdb.XLen(ctx, defaultStream+":dlq").Result(); err != nil || n != 0 {
		t.Errorf("dead letters: %d (%v), want 0", n, err)
	}
}

func TestRunRedis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantSeance string // "" for a random one
		rituals    int
	}{
		{name: "defaults", rituals: 3},
		{name: "concurrent", args: []string{"-rituals", "30", "-concurrency", "4"}, rituals: 30},
		{name: "chosen séance id", args: []string{"-seance", "vigil_7", "-rituals", "2"}, wantSeance: "vigil_7", rituals: 2},
		{name: "own stream and group", args: []string{"-stream", "my:seance", "-group", "mine", "-consumer", "me"}, rituals: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mr := miniredis.RunT(t)
			stdout, stderr := runOK(t, redisArgs("redis://"+mr.Addr(), tt.args...)...)
			if stderr != "" {
				t.Errorf("stderr: got %q, want nothing", stderr)
			}
			s := parse(t, stdout)
			seance := onlySeance(t, s)
			switch {
			case tt.wantSeance != "" && seance != tt.wantSeance:
				t.Errorf("séance id: got %q, want %q", seance, tt.wantSeance)
			case tt.wantSeance == "" && !randomID.MatchString(seance):
				t.Errorf("séance id: got %q, want a random one (%s)", seance, randomID)
			}
			checkComplete(t, stdout, seance, tt.rituals)
			if want := "The candles are lit (séance " + seance + "). Mina takes a seat at the table.\n"; !strings.HasPrefix(stdout, want) {
				t.Errorf("stdout starts %q, want %q", strings.SplitN(stdout, "\n", 2)[0], want)
			}
			if want := plural(tt.rituals, "ritual") + ", " + plural(tt.rituals, "omen"); s.summary != want {
				t.Errorf("summary: got %q, want %q", s.summary, want)
			}
		})
	}
}

// TestRunRedisSameAsMemory checks that the backend and the séance id change
// nothing of what the spirits say.
func TestRunRedisSameAsMemory(t *testing.T) {
	t.Parallel()
	args := []string{"-rituals", "7", "-seeker", "Renfield", "-question", "Is it you, Father?", "-question", "Shall I sail?"}
	memOut, _ := runOK(t, args...)
	redisOut, _ := runOK(t, redisArgs("redis://"+miniredis.RunT(t).Addr(), args...)...)
	seance := onlySeance(t, parse(t, redisOut))
	if got := strings.ReplaceAll(redisOut, " (séance "+seance+")", ""); got != memOut {
		t.Errorf("on redis, without the séance id:\n%s\nwant, as on memory:\n%s", got, memOut)
	}
}

func TestRunRedisLeftovers(t *testing.T) {
	t.Parallel()
	ritual := func(seance string, n int, question string) map[string]any {
		return map[string]any{"seance": seance, "number": n, "seeker": "Lucy", "question": question}
	}
	enqueue := func(events ...core.Event) func(*testing.T, string) {
		return func(t *testing.T, url string) {
			b := openTestBackend(t, url)
			for _, e := range events {
				if err := b.Enqueue(context.Background(), e); err != nil {
					t.Fatalf("enqueue %s: %v", e, err)
				}
			}
		}
	}
	reading := organs.Reading{Reply: organs.Reply{
		Apparition: organs.Apparition{
			Ritual: organs.Ritual{Seance: "earlier", Number: 1, Seeker: "Lucy", Question: "Is anyone there?"},
			Spirit: organs.Spirit{Name: "Banquo", Epithet: "the Uninvited Guest"},
		},
		Answer: "Soon.",
	}, Omen: "The candle flame bends toward the door."}

	tests := []struct {
		name        string
		seance      string // -seance of the run, "" for a random one
		seed        func(t *testing.T, url string)
		wantCode    int
		wantSummary string
		wantStderr  string // a substring; "" means stderr must be empty
	}{
		{
			name:        "rituals of an earlier emit",
			seed:        func(t *testing.T, url string) { emitOK(t, url, "-rituals", "2", "-seance", "earlier") },
			wantSummary: "3 rituals, 3 omens, 2 omens of other séances",
		},
		{
			name:        "an omen of another séance with the same number",
			seed:        enqueue(organs.OmenRevealed.MustNew(reading)),
			wantSummary: "3 rituals, 3 omens, 1 omen of other séances",
		},
		{
			name:        "a ritual without séance id",
			seed:        enqueue(core.MustEvent("SUMMON_RITUAL", ritual("", 1, "Is anyone there?"))),
			wantSummary: "3 rituals, 3 omens, 1 omen of other séances",
		},
		{
			name: "dead letters from before the run",
			seed: func(t *testing.T, url string) {
				enqueue(core.MustEvent("SUMMON_RITUAL", ritual("earlier", 1, "")))(t, url)
				_, _, stderr := run(context.Background(), redisArgs(url, "-rituals", "1")...)
				if !strings.Contains(stderr, "seance: dead letter: ") {
					t.Fatalf("the first run reported no dead letter: %q", stderr)
				}
			},
			wantSummary: "3 rituals, 3 omens",
		},
		{
			name: "an entry that is not an event",
			seed: func(t *testing.T, url string) {
				openTestBackend(t, url) // creates the group: the entry is read
				rdb := goredis.NewClient(&goredis.Options{Addr: strings.TrimPrefix(url, "redis://")})
				defer rdb.Close()
				if err := rdb.XAdd(context.Background(), &goredis.XAddArgs{Stream: defaultStream, Values: []any{"event", "boo!"}}).Err(); err != nil {
					t.Fatal(err)
				}
			},
			wantSummary: "3 rituals, 3 omens, 1 dead letter",
			wantStderr:  "seance: dead letter: an entry that is not an event reason=" + nsredis.ReasonMalformed + ": ",
		},
		{
			name:        "a failing ritual of another séance",
			seed:        enqueue(core.MustEvent("SUMMON_RITUAL", ritual("earlier", 2, " "))),
			wantSummary: "3 rituals, 3 omens, 1 dead letter",
			wantStderr:  "seance: dead letter: SUMMON_RITUAL organ=Summoner reason=handler_failed: invalid séance payload: question: empty (ritual 2 of séance earlier)\n",
		},
		{
			name:        "a failing ritual of this séance",
			seance:      "now",
			seed:        enqueue(core.MustEvent("SUMMON_RITUAL", ritual("now", 9, ""))),
			wantCode:    worker.ExitFailed,
			wantSummary: "3 rituals, 3 omens, 1 dead letter",
			wantStderr:  "(ritual 9)\nseance: 1 dead letter of this séance\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := "redis://" + miniredis.RunT(t).Addr()
			tt.seed(t, url)
			args := redisArgs(url)
			if tt.seance != "" {
				args = append(args, "-seance", tt.seance)
			}
			code, stdout, stderr := run(context.Background(), args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			s := parse(t, stdout)
			seance := tt.seance
			if seance == "" {
				seance = strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(stdout, "\n", 2)[0], "The candles are lit (séance "), "). Mina takes a seat at the table.")
			}
			checkSeance(t, s, seance, 3)
			if s.summary != tt.wantSummary {
				t.Errorf("summary: got %q, want %q", s.summary, tt.wantSummary)
			}
			switch {
			case tt.wantStderr == "" && stderr != "":
				t.Errorf("stderr: got %q, want nothing", stderr)
			case !strings.Contains(stderr, tt.wantStderr):
				t.Errorf("stderr: got %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}

// startWorker runs a worker until the returned stop function is called,
// which returns its exit status.
func startWorker(t *testing.T, url string, stdout, stderr io.Writer, more ...string) (stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() {
		args := redisArgs(url, append([]string{"-mode", "worker"}, more...)...)
		code <- worker.Run(ctx, app(), args, func(string) string { return "" }, stdout, stderr)
	}()
	var once sync.Once
	var c int
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case c = <-code:
			case <-time.After(20 * time.Second):
				// Errorf, not Fatal: stop may run on another goroutine.
				t.Errorf("worker did not stop within 20s of its context's end")
				c = -1
			}
		})
		return c
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFor polls until cond holds, or fails the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEmitThenWorkers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		workers     int
		concurrency string
		rituals     int
	}{
		{"one worker", 1, "1", 10},
		{"two concurrent workers", 2, "3", 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mr := miniredis.RunT(t)
			url := "redis://" + mr.Addr()
			seance := emitOK(t, url, "-rituals", strconv.Itoa(tt.rituals), "-seeker", "Jonathan")

			outs := make([]*workertest.Buffer, tt.workers)
			errs := make([]*workertest.Buffer, tt.workers)
			stops := make([]func() int, tt.workers)
			for i := range tt.workers {
				outs[i], errs[i] = &workertest.Buffer{}, &workertest.Buffer{}
				stops[i] = startWorker(t, url, outs[i], errs[i], "-consumer", "w"+strconv.Itoa(i), "-concurrency", tt.concurrency)
			}
			merged := func() string {
				var b strings.Builder
				for _, o := range outs {
					b.WriteString(o.String())
				}
				return b.String()
			}
			waitFor(t, 20*time.Second, "every omen", func() bool {
				distinct, _ := parse(t, merged()).of(seance)
				return distinct == tt.rituals
			})
			// Stopped together: each may wait out a blocking read.
			codes := make([]int, len(stops))
			var wg sync.WaitGroup
			for i, stop := range stops {
				wg.Go(func() { codes[i] = stop() })
			}
			wg.Wait()
			for i, code := range codes {
				if code != worker.ExitOK {
					t.Errorf("worker %d exited %d, want 0; stderr:\n%s", i, code, errs[i].String())
				}
				if errs[i].String() != "" {
					t.Errorf("worker %d stderr: got %q, want nothing", i, errs[i].String())
				}
				out := outs[i].String()
				if want := "The medium w" + strconv.Itoa(i) + " listens on necrostack:seance (group necrostack).\n\n"; !strings.HasPrefix(out, want) {
					t.Errorf("worker %d stdout does not start with %q:\n%s", i, want, out)
				}
				if want := "The medium w" + strconv.Itoa(i) + " rests after "; !strings.Contains(out, want) {
					t.Errorf("worker %d stdout does not end with %q:\n%s", i, want, out)
				}
			}
			s := parse(t, merged())
			checkSeance(t, s, seance, tt.rituals)
			if s.omens != tt.rituals {
				t.Errorf("workers printed %d omens, want %d", s.omens, tt.rituals)
			}
			rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
			defer rdb.Close()
			checkDrained(t, rdb)
		})
	}
}

// startGate returns the address of a Redis that is down until open is
// called: it accepts connections and closes them at once, then passes them
// through to target. Its port stays taken all along, so that no other test's
// server can land on it meanwhile.
func startGate(t *testing.T) (addr string, open func(target string)) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		target string
		conns  []net.Conn
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			to := target
			mu.Unlock()
			var up net.Conn
			if to != "" {
				up, err = net.Dial("tcp", to)
			}
			if up == nil || err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(up, c); up.Close() })
			wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String(), func(to string) {
		mu.Lock()
		target = to
		mu.Unlock()
	}
}

// TestWorkerBeforeRedis starts a worker before Redis: it warns, waits, and
// works once Redis is up.
func TestWorkerBeforeRedis(t *testing.T) {
	t.Parallel()
	addr, open := startGate(t)
	url := "redis://:hunter2@" + addr

	var stdout, stderr workertest.Buffer
	stop := startWorker(t, url, &stdout, &stderr)
	waitFor(t, 10*time.Second, "a warning", func() bool { return strings.Contains(stderr.String(), "cannot reach the server yet") })
	if strings.Contains(stderr.String(), "hunter2") {
		t.Errorf("stderr shows the password: %s", stderr.String())
	}

	mr := miniredis.RunT(t)
	mr.RequireAuth("hunter2")
	open(mr.Addr())
	seance := emitOK(t, url, "-rituals", "3")
	waitFor(t, 20*time.Second, "every omen", func() bool {
		distinct, _ := parse(t, stdout.String()).of(seance)
		return distinct == 3
	})
	if code := stop(); code != worker.ExitOK {
		t.Errorf("worker exited %d, want 0; stderr:\n%s", code, stderr.String())
	}
	checkSeance(t, parse(t, stdout.String()), seance, 3)
}

// TestBinaryWorkers is the acceptance test of the Redis backend: a real
// redis-server, an emit of 200 rituals, then two worker processes sharing
// the group until a SIGTERM. Every ritual must be printed exactly once across
// both, and nothing may stay pending or dead.
//
// Which worker handles what is up to Redis and the scheduler: after the
// first emit, a worker that starts late may find the other one has done
// everything. So a second emit follows once both wait in a blocking read:
// Redis then hands entries to each, and both must have handled events. Who
// printed which omen is only logged: the last step of a chain may always
// fall to the same worker.
func TestBinaryWorkers(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	srv := redistest.Start(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	const rituals = 200
	args := func(more ...string) []string { return redisArgs(srv.URL(), more...) }
	emit := func() string {
		t.Helper()
		stdout, stderr, code := workertest.Run(t.Context(), t, "seance emit", bin, args("-mode", "emit", "-rituals", strconv.Itoa(rituals))...)
		if code != worker.ExitOK {
			t.Fatalf("seance -mode emit: exit %d; stderr:\n%s", code, stderr)
		}
		m := emitLine.FindStringSubmatch(stdout)
		if m == nil || m[1] != strconv.Itoa(rituals) {
			t.Fatalf("emit printed %q, want a line matching %s for %d rituals", stdout, emitLine, rituals)
		}
		return m[2]
	}

	type process struct {
		name string
		proc *workertest.Proc
	}
	workers := []*process{{name: "alice"}, {name: "bob"}}
	dump := func() string {
		var b strings.Builder
		for _, w := range workers {
			fmt.Fprintf(&b, "--- %s stdout:\n%s", w.name, w.proc.Stdout())
			fmt.Fprintf(&b, "--- %s stderr:\n%s", w.name, w.proc.Stderr())
		}
		return b.String()
	}
	// await waits until every ritual of the séance was printed, by one
	// worker or the other.
	await := func(seance string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			seen := map[ritualID]bool{}
			for _, w := range workers {
				for id := range parse(t, w.proc.Stdout()).rituals {
					seen[id] = true
				}
			}
			n := 0
			for id := range seen {
				if id.seance == seance {
					n++
				}
			}
			if n >= rituals {
				return time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("after %v, %d of %d rituals of séance %s printed\n%s", within, n, rituals, seance, dump())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	start := time.Now()
	first := emit()
	for _, w := range workers {
		w.proc = workertest.Start(t, "seance worker "+w.name, bin, args("-mode", "worker", "-consumer", w.name, "-log-level", "info")...)
	}
	firstTook := await(first, 60*time.Second)
	elapsed := time.Since(start)

	// Once both wait in a blocking read, Redis hands the next entries to
	// each in turn, however busy the machine.
	waitFor(t, 30*time.Second, "both workers blocked in a read", func() bool {
		list, err := rdb.ClientList(context.Background()).Result()
		blocked := 0
		for line := range strings.Lines(list) {
			if strings.Contains(line, " flags=b ") && strings.Contains(line, " cmd=xreadgroup") {
				blocked++
			}
		}
		return err == nil && blocked == len(workers)
	})
	second := emit()
	secondTook := await(second, 60*time.Second)

	for _, w := range workers {
		if err := w.proc.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM %s: %v", w.name, err)
		}
	}
	stopping := time.Now()
	for _, w := range workers {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		code, err := w.proc.Wait(ctx)
		cancel()
		switch {
		case err != nil:
			w.proc.Kill()
			t.Errorf("%s did not stop within 30s of SIGTERM", w.name)
		case code != worker.ExitOK:
			t.Errorf("%s: exit %d, want exit status 0\n%s", w.name, code, dump())
		}
	}
	stopTook := time.Since(stopping)

	// The outputs are complete now: audit them.
	share := map[string]map[string]int{} // séance → worker → rituals
	merged := shape{rituals: map[ritualID]int{}}
	for _, w := range workers {
		s := parse(t, w.proc.Stdout())
		printed := 0
		for id, c := range s.rituals {
			merged.rituals[id] += c
			printed += c
			if share[id.seance] == nil {
				share[id.seance] = map[string]int{}
			}
			share[id.seance][w.name] += c
		}
		if s.omens != printed {
			t.Errorf("%s printed %d omens for %d ritual headers", w.name, s.omens, printed)
		}
		if !strings.Contains(w.proc.Stdout(), "The medium "+w.name+" rests after ") {
			t.Errorf("%s did not say it rests:\n%s", w.name, w.proc.Stdout())
		}
	}
	checkSeance(t, merged, first, rituals)
	checkSeance(t, merged, second, rituals)
	if len(share) != 2 {
		t.Errorf("printed rituals of séances %v, want only %s and %s", slices.Collect(maps.Keys(share)), first, second)
	}
	// Every event of both séances was handled once, and each worker
	// handled some: after the second emit, Redis handed each its share.
	pulled := map[string]int{}
	for _, w := range workers {
		pulled[w.name] = workerPulled(t, w.name, w.proc.Stderr())
	}
	if got, want := pulled["alice"]+pulled["bob"], 2*rituals*app().StepsPerSeed; got != want {
		t.Errorf("the workers handled %d events (%v), want %d", got, pulled, want)
	}
	for _, w := range workers {
		if pulled[w.name] == 0 {
			t.Errorf("%s handled no event (%v) though both waited in a read before the second emit: the group did not share the work",
				w.name, pulled)
		}
	}
	checkDrained(t, rdb)
	t.Logf("first séance: emit + %d rituals by two starting workers in %v (%v after they started), shared %v", rituals,
		elapsed.Round(time.Millisecond), firstTook.Round(time.Millisecond), share[first])
	t.Logf("second séance: %d rituals in %v, shared %v; events handled in all %v; SIGTERM to exit: %v", rituals,
		secondTook.Round(time.Millisecond), share[second], pulled, stopTook.Round(time.Millisecond))
	if t.Failed() {
		t.Log(dump())
	}
}

// workerPulled returns how many events a worker handled, from the JSON logs
// it wrote on stderr, and checks that they are all JSON.
func workerPulled(t *testing.T, name, stderr string) int {
	t.Helper()
	pulled := -1
	for line := range strings.Lines(stderr) {
		var rec struct {
			Msg    string `json:"msg"`
			Pulled *int   `json:"pulled"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("%s: stderr line is not JSON: %q: %v", name, line, err)
			continue
		}
		if rec.Msg == "stopped" && rec.Pulled != nil {
			pulled = *rec.Pulled
		}
	}
	if pulled < 0 {
		t.Errorf("%s logged no \"stopped\" with its count:\n%s", name, stderr)
		return 0
	}
	return pulled
}

// groupNames returns the consumer groups of a stream, none when it does not
// exist.
func groupNames(t *testing.T, rdb goredis.UniversalClient, stream string) []string {
	t.Helper()
	groups, err := rdb.XInfoGroups(context.Background(), stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return nil
		}
		t.Fatalf("XINFO GROUPS %s: %v", stream, err)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	return names
}

// TestWorkerFaultThenRedrive is the poison scenario in process: a worker
// whose Oracle fails on every third ritual dead-letters rituals 3 and 6 for
// the Oracle after three attempts and completes the others; -mode redrive
// hands them back, and a worker without the fault completes them.
func TestWorkerFaultThenRedrive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr()
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	const rituals = 6
	emitOK(t, url, "-rituals", fmt.Sprint(rituals), "-seance", "poison")

	var sickOut, sickErr workertest.Buffer
	stopSick := startWorker(t, url, &sickOut, &sickErr, "-consumer", "sick", "-concurrency", "2",
		"-fail-organ", "Oracle", "-fail-every", "3")
	waitFor(t, 20*time.Second, "4 omens and 2 dead letters, nothing pending", func() bool {
		distinct, _ := parse(t, sickOut.String()).of("poison")
		dead, err1 := rdb.XLen(ctx, defaultStream+":dlq").Result()
		pending, err2 := rdb.XPending(ctx, defaultStream, nsredis.DefaultGroup).Result()
		return err1 == nil && err2 == nil && distinct == 4 && dead == 2 && pending.Count == 0
	})
	if code := stopSick(); code != worker.ExitOK {
		t.Errorf("sick worker exited %d, want 0; stderr:\n%s", code, sickErr.String())
	}
	s := parse(t, sickOut.String())
	for n := 1; n <= rituals; n++ {
		want := 1
		if n%3 == 0 {
			want = 0
		}
		if got := s.rituals[ritualID{"poison", n}]; got != want {
			t.Errorf("with the fault: ritual %d printed %d times, want %d", n, got, want)
		}
	}
	dls, err := openTestBackend(t, url).DeadLetters(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var deadRituals []int
	for _, dl := range dls {
		r, _ := organs.RitualOf(dl.Event)
		deadRituals = append(deadRituals, r.Number)
		wantErr := fmt.Sprintf("injected fault: Oracle fails on every 3rd ritual (ritual %d)", r.Number)
		if dl.Organ != "Oracle" || dl.Reason != core.ReasonHandlerFailed || dl.Attempts != core.DefaultMaxAttempts ||
			dl.Error != wantErr || dl.Event.Type() != organs.AnswerGenerated.Type() || r.Seance != "poison" {
			t.Errorf("dead letter: organ %q, reason %q, %d attempts, error %q, %s of ritual %d of %q; "+
				"want Oracle, %s, %d attempts, %q, %s of séance poison",
				dl.Organ, dl.Reason, dl.Attempts, dl.Error, dl.Event.Type(), r.Number, r.Seance,
				core.ReasonHandlerFailed, core.DefaultMaxAttempts, wantErr, organs.AnswerGenerated.Type())
		}
	}
	slices.Sort(deadRituals)
	if !slices.Equal(deadRituals, []int{3, 6}) {
		t.Errorf("dead letters for rituals %v, want [3 6]", deadRituals)
	}

	groups := groupNames(t, rdb, defaultStream)
	stdout, stderr := runOK(t, redisArgs(url, "-mode", "redrive")...)
	if want := "redrove 2 dead letters from necrostack:seance:dlq to necrostack:seance\n"; stdout != want {
		t.Errorf("redrive printed %q, want %q", stdout, want)
	}
	if stderr != "" {
		t.Errorf("redrive stderr: got %q, want nothing", stderr)
	}
	if n, err := rdb.XLen(ctx, defaultStream+":dlq").Result(); err != nil || n != 0 {
		t.Errorf("after the redrive: %d dead letters (%v), want 0", n, err)
	}
	if got := groupNames(t, rdb, defaultStream); !slices.Equal(got, groups) {
		t.Errorf("groups after the redrive: %v, want %v as before", got, groups)
	}

	var wellOut, wellErr workertest.Buffer
	stopWell := startWorker(t, url, &wellOut, &wellErr, "-consumer", "well")
	waitFor(t, 20*time.Second, "the omens of rituals 3 and 6", func() bool {
		distinct, _ := parse(t, wellOut.String()).of("poison")
		return distinct == 2
	})
	if code := stopWell(); code != worker.ExitOK {
		t.Errorf("well worker exited %d, want 0; stderr:\n%s", code, wellErr.String())
	}
	if wellErr.String() != "" {
		t.Errorf("well worker stderr: got %q, want nothing", wellErr.String())
	}
	merged := parse(t, sickOut.String()+wellOut.String())
	checkSeance(t, merged, "poison", rituals)
	if merged.omens != rituals {
		t.Errorf("the workers printed %d omens, want %d", merged.omens, rituals)
	}
	checkDrained(t, rdb)
}

// seedDeadLetters adds dead letters to the dead-letter stream of stream: one
// holding a ritual's ANSWER_GENERATED per number, then malformed ones
// holding no event. It returns the events.
func seedDeadLetters(t *testing.T, url, stream string, numbers []int, malformed int) []core.Event {
	t.Helper()
	ctx := context.Background()
	b, err := nsredis.New(ctx, nsredis.Config{URL: url, Stream: stream, Mode: nsredis.ModeStream, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var events []core.Event
	for _, n := range numbers {
		e := organs.AnswerGenerated.MustNew(organs.Reply{Apparition: organs.Apparition{
			Ritual: organs.Ritual{Number: n, Seeker: "Mina", Question: "Is anyone there?", Seance: "old"},
			Spirit: organs.Spirit{Name: "Banquo", Epithet: "the Uninvited Guest"},
		}, Answer: "Soon."})
		dl := core.DeadLetter{Event: e, Organ: "Oracle", Reason: core.ReasonHandlerFailed, Error: "boom", Attempts: 3, Time: time.Now()}
		if err := b.DeadLetter(ctx, dl); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	for range malformed {
		err := b.Client().XAdd(ctx, &goredis.XAddArgs{Stream: stream + ":dlq", Values: []any{
			"reason", nsredis.ReasonMalformed, "error", "not JSON", "event", "boo!", "attempts", "1",
		}}).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	return events
}

func TestRedrive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		stream     string
		numbers    []int // rituals of the redrivable dead letters
		malformed  int
		wantCode   int
		wantStdout string
		wantStderr []string // each a whole line; none means stderr must be empty
		wantLeft   int64
	}{
		{
			name:       "nothing to redrive",
			stream:     defaultStream,
			wantStdout: "redrove 0 dead letters from necrostack:seance:dlq to necrostack:seance\n",
		},
		{
			name:       "one, on another stream",
			args:       []string{"-stream", "vigil:events"},
			stream:     "vigil:events",
			numbers:    []int{4},
			wantStdout: "redrove 1 dead letter from vigil:events:dlq to vigil:events\n",
		},
		{
			name:       "many",
			stream:     defaultStream,
			numbers:    []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
			wantStdout: "redrove 20 dead letters from necrostack:seance:dlq to necrostack:seance\n",
		},
		{
			name:       "dead letters that hold no event",
			stream:     defaultStream,
			numbers:    []int{2, 9},
			malformed:  2,
			wantCode:   worker.ExitFailed,
			wantStdout: "redrove 2 dead letters from necrostack:seance:dlq to necrostack:seance\n",
			wantStderr: []string{
				"seance: redis at redis://ADDR: redis: redrive ID: dead letter holds no valid event",
				"seance: redis at redis://ADDR: redis: redrive ID: dead letter holds no valid event",
				"seance: 2 dead letters left in necrostack:seance:dlq: they hold no event to hand back",
			},
			wantLeft: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			mr := miniredis.RunT(t)
			url := "redis://" + mr.Addr()
			rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
			defer rdb.Close()
			events := seedDeadLetters(t, url, tt.stream, tt.numbers, tt.malformed)

			code, stdout, stderr := run(ctx, redisArgs(url, append([]string{"-mode", "redrive"}, tt.args...)...)...)
			if code != tt.wantCode {
				t.Errorf("redrive: exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if stdout != tt.wantStdout {
				t.Errorf("stdout: got %q, want %q", stdout, tt.wantStdout)
			}
			var lines []string
			for l := range strings.Lines(stderr) {
				// Dead-letter ids vary.
				l = strings.TrimSuffix(strings.ReplaceAll(l, mr.Addr(), "ADDR"), "\n")
				if i := strings.Index(l, "redrive "); i >= 0 {
					if j := strings.Index(l[i:], ":"); j >= 0 {
						l = l[:i] + "redrive ID" + l[i+j:]
					}
				}
				lines = append(lines, l)
			}
			if !slices.Equal(lines, tt.wantStderr) {
				t.Errorf("stderr:\n got  %q\n want %q", lines, tt.wantStderr)
			}

			// The events are back in the stream, same ids; the others
			// stay dead; no group was made.
			msgs, err := rdb.XRange(ctx, tt.stream, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, m := range msgs {
				s, _ := m.Values["event"].(string)
				e, err := core.DecodeEvent([]byte(s))
				if err != nil {
					t.Errorf("stream entry %s: %v", m.ID, err)
				}
				got = append(got, e.ID())
			}
			for _, e := range events {
				want = append(want, e.ID())
			}
			if !slices.Equal(got, want) {
				t.Errorf("event ids in the stream: %v, want %v", got, want)
			}
			if n, err := rdb.XLen(ctx, tt.stream+":dlq").Result(); err != nil || n != tt.wantLeft {
				t.Errorf("dead letters left: %d (%v), want %d", n, err, tt.wantLeft)
			}
			if g := groupNames(t, rdb, tt.stream); len(g) > 0 {
				t.Errorf("redrive made consumer groups %v, want none", g)
			}
		})
	}
}

// TestClaimMinIdle checks -claim-min-idle reaches the backend: a worker
// reclaims an entry a dead consumer left pending once it has been idle that
// long, and not before.
func TestClaimMinIdle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		args        []string
		want        time.Duration
		wantReclaim bool
	}{
		{"default", nil, nsredis.DefaultClaimMinIdle, false},
		{"200ms", []string{"-claim-min-idle", "200ms"}, 200 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			mr := miniredis.RunT(t)
			url := "redis://" + mr.Addr()
			emitOK(t, url, "-rituals", "1", "-seance", "stuck")
			// A consumer that reads the summons and dies.
			ghost, err := nsredis.New(ctx, nsredis.Config{URL: url, Stream: defaultStream, Consumer: "ghost", Logger: discardLogger()})
			if err != nil {
				t.Fatal(err)
			}
			stuck, ok, err := ghost.Pull(ctx, time.Second)
			if !ok || err != nil {
				t.Fatalf("ghost pulled nothing (%v)", err)
			}
			_ = ghost.Close()

			var stdout, stderr workertest.Buffer
			stop := startWorker(t, url, &stdout, &stderr, append([]string{"-consumer", "medium", "-log-level", "info"}, tt.args...)...)
			done := func() bool { distinct, _ := parse(t, stdout.String()).of("stuck"); return distinct == 1 }
			if tt.wantReclaim {
				waitFor(t, 20*time.Second, "the reclaimed ritual's omen", done)
			} else {
				// A consumer checks for stuck entries at its first pull,
				// before its first read: once the worker has handled a
				// ritual emitted after it started, it has made that check,
				// and the ghost's entry must still be the ghost's.
				emitOK(t, url, "-rituals", "1", "-seance", "probe")
				waitFor(t, 20*time.Second, "the probe ritual's omen", func() bool {
					distinct, _ := parse(t, stdout.String()).of("probe")
					return distinct == 1
				})
				if done() {
					t.Errorf("the worker reclaimed the ghost's entry before the default claim time (%v)", nsredis.DefaultClaimMinIdle)
				}
				rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
				defer rdb.Close()
				pending, err := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
					Stream: defaultStream, Group: nsredis.DefaultGroup, Start: "-", End: "+", Count: 10,
				}).Result()
				if err != nil {
					t.Fatal(err)
				}
				if len(pending) != 1 || pending[0].ID != stuck.Receipt || pending[0].Consumer != "ghost" {
					t.Errorf("pending entries after the worker's reclaim check: %+v, want only %s, still the ghost's", pending, stuck.Receipt)
				}
			}
			if code := stop(); code != worker.ExitOK {
				t.Errorf("worker exited %d, want 0; stderr:\n%s", code, stderr.String())
			}
			if want := fmt.Sprintf(`"claim_min_idle_ms":%d`, tt.want.Milliseconds()); !strings.Contains(stderr.String(), want) {
				t.Errorf("the worker did not log %s:\n%s", want, stderr.String())
			}
			if got := strings.Contains(stderr.String(), `"from_consumer":"ghost"`); got != tt.wantReclaim {
				t.Errorf("reclaim from the ghost logged: %t, want %t:\n%s", got, tt.wantReclaim, stderr.String())
			}
		})
	}
}
