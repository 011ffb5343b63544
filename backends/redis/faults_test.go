package redis_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

// The fault scenarios run the séance chain on a real redis-server behind a
// fault proxy (redistest.Proxy): every worker's connection goes through it,
// while the test inspects Redis directly. Each ends with exact counts read
// from the stream: every ritual completed, no emitted event written twice,
// nothing pending, nothing dead-lettered; time bounds are generous maxima.
// Each logs one line, "fault <name>: sent … completed … lost … duplicated
// emits … recovery …", the table of the README's guarantees.

// stages are the séance's organs, in order, and what each emits.
var stages = []struct{ organ, listens, emits string }{
	{"Summoner", "SUMMON_RITUAL", "SPIRIT_APPEARED"},
	{"Medium", "SPIRIT_APPEARED", "ANSWER_GENERATED"},
	{"Oracle", "ANSWER_GENERATED", "OMEN_REVEALED"},
	{"Scribe", "OMEN_REVEALED", ""},
}

// chain is the séance as relays that count their calls per ritual. slow
// makes the named organ take that long (honouring ctx); once hold is
// called, it waits for ctx instead, and held counts the calls waiting.
type chain struct {
	slowOrgan string
	slow      time.Duration
	held      atomic.Int32

	mu      sync.Mutex
	calls   map[string]map[int]int
	done    map[int]bool
	holding bool
}

func newChain() *chain { return &chain{calls: map[string]map[int]int{}, done: map[int]bool{}} }

func (c *chain) organs() []core.Organ {
	var out []core.Organ
	for _, st := range stages {
		out = append(out, core.OrganFunc(st.organ, []string{st.listens}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
			var p struct{ Ritual int }
			if err := e.DecodePayload(&p); err != nil {
				return nil, core.Permanent(err)
			}
			c.mu.Lock()
			if c.calls[st.organ] == nil {
				c.calls[st.organ] = map[int]int{}
			}
			c.calls[st.organ][p.Ritual]++
			holding := c.holding && st.organ == c.slowOrgan
			c.mu.Unlock()
			if holding {
				c.held.Add(1)
				<-ctx.Done()
				return nil, ctx.Err()
			}
			if st.organ == c.slowOrgan {
				select {
				case <-time.After(c.slow):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			if st.emits == "" {
				c.mu.Lock()
				c.done[p.Ritual] = true
				c.mu.Unlock()
				return nil, nil
			}
			next, err := core.NewEvent(st.emits, e.Payload())
			return []core.Event{next}, err
		}))
	}
	return out
}

// hold makes the slow organ wait for its ctx from now on, until unhold.
func (c *chain) hold(on bool) {
	c.mu.Lock()
	c.holding = on
	c.mu.Unlock()
}

// finished is how many distinct rituals reached the Scribe.
func (c *chain) finished() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.done)
}

func (c *chain) callsOf(organ string, ritual int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[organ][ritual]
}

// logRecorder is a slog.Handler that keeps every record, for the
// scenarios that check what the backend and the Spine said.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}

// lines returns the messages logged at level or above that contain text.
func (l *logRecorder) lines(level slog.Level, text string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level >= level && strings.Contains(r.Message, text) {
			line := r.Level.String() + " " + r.Message
			r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
			out = append(out, line)
		}
	}
	return out
}

// faultEnv is one scenario: a redis-server, the proxy in front of it, a
// client straight to the server, the chain and the logs.
type faultEnv struct {
	t     *testing.T
	srv   *redistest.Server
	proxy *redistest.Proxy
	rdb   *goredis.Client
	chain *chain
	logs  *logRecorder
	log   *slog.Logger
}

func newFaultEnv(t *testing.T, serverArgs ...string) *faultEnv {
	if testing.Short() {
		t.Skip("a fault scenario: it runs in the full test pass (go tool mage test runs -short only for the GOWORK=off builds)")
	}
	srv := redistest.Start(t, serverArgs...)
	logs := &logRecorder{}
	return &faultEnv{t: t, srv: srv, proxy: redistest.StartProxy(t, srv.Addr()), rdb: inspect(t, srv.Addr()),
		chain: newChain(), logs: logs, log: slog.New(logs)}
}

// worker is one Spine over its own Backend, connected through the proxy.
type worker struct {
	b      *nsredis.Backend
	s      *core.Spine
	cancel context.CancelFunc
	done   chan error
}

// startWorker starts a worker named name; cfg and opts are completed with
// the scenario's defaults (URL, consumer, logger, no step limit).
func (e *faultEnv) startWorker(name string, cfg nsredis.Config, opts core.Config) *worker {
	e.t.Helper()
	cfg.URL, cfg.Consumer, cfg.Logger = e.proxy.URL(), name, e.log
	b := newBackend(e.t, cfg)
	opts.MaxSteps, opts.Logger = core.NoStepLimit, e.log
	if opts.PullTimeout == 0 {
		opts.PullTimeout = 200 * time.Millisecond
	}
	s, err := core.NewSpine(b, e.chain.organs(), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{b: b, s: s, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- s.Run(ctx) }()
	e.t.Cleanup(func() { w.stop(e.t) })
	return w
}

// stop cancels the worker, waits for Run, closes the backend, and returns
// how long Run and Close took.
func (w *worker) stop(t *testing.T) (run, closing time.Duration) {
	if w.cancel == nil {
		return 0, 0
	}
	start := time.Now()
	w.cancel()
	w.cancel = nil
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return within 60s of its cancel")
	}
	run = time.Since(start)
	start = time.Now()
	if err := w.b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	return run, time.Since(start)
}

// seed enqueues rituals from .. to (inclusive) straight to the server.
func (e *faultEnv) seed(from, to int) {
	e.t.Helper()
	pipe := e.rdb.Pipeline()
	for r := from; r <= to; r++ {
		wire, _ := core.MustEvent("SUMMON_RITUAL", map[string]int{"ritual": r}).MarshalJSON()
		pipe.XAdd(context.Background(), &goredis.XAddArgs{Stream: stream, Values: []any{"event", string(wire)}})
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		e.t.Fatalf("seed: %v", err)
	}
}

// waitFinished waits until n rituals have reached the Scribe, and fails
// the test after limit.
func (e *faultEnv) waitFinished(n int, limit time.Duration) time.Duration {
	e.t.Helper()
	start := time.Now()
	for e.chain.finished() < n {
		if time.Since(start) > limit {
			e.t.Fatalf("%d of %d rituals finished after %v", e.chain.finished(), n, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// audit reads the whole stream: rituals 1..n lost (no omen in the stream)
// and emitted events written more than once.
func (e *faultEnv) audit(n int) (lost, dups int) {
	e.t.Helper()
	count := map[string]map[int]int{}
	for start := "-"; ; {
		msgs, err := e.rdb.XRangeN(context.Background(), stream, start, "+", 1000).Result()
		if err != nil {
			e.t.Fatalf("XRANGE: %v", err)
		}
		for _, m := range msgs {
			ev, err := core.DecodeEvent([]byte(m.Values["event"].(string)))
			if err != nil {
				e.t.Fatalf("entry %s: %v", m.ID, err)
			}
			var p struct{ Ritual int }
			_ = ev.DecodePayload(&p)
			if count[ev.Type()] == nil {
				count[ev.Type()] = map[int]int{}
			}
			count[ev.Type()][p.Ritual]++
		}
		if len(msgs) < 1000 {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	for r := 1; r <= n; r++ {
		if count["OMEN_REVEALED"][r] == 0 {
			lost++
		}
		for _, st := range stages[:3] {
			if c := count[st.emits][r]; c > 1 {
				dups += c - 1
			}
		}
	}
	return lost, dups
}

// checkClean fails unless rituals 1..n all completed with no emitted event
// written twice, nothing pending in the group and nothing dead-lettered,
// and reports the scenario's line.
func (e *faultEnv) checkClean(name string, n int, recovery time.Duration) {
	e.t.Helper()
	// The last commits may still be on their way when the last ritual
	// finishes.
	for start := time.Now(); pendingCount(e.t, e.rdb) > 0 && time.Since(start) < 10*time.Second; {
		time.Sleep(10 * time.Millisecond)
	}
	lost, dups := e.audit(n)
	e.t.Logf("fault %s: sent %d, completed %d, lost %d, duplicated emits %d, recovery %v",
		name, n, n-lost, lost, dups, recovery.Round(time.Millisecond))
	if lost != 0 || dups != 0 {
		e.t.Errorf("%d rituals lost, %d emitted events duplicated; want 0 and 0", lost, dups)
	}
	if p := pendingCount(e.t, e.rdb); p != 0 {
		e.t.Errorf("%d entries still pending, want 0", p)
	}
	if n := streamLen(e.t, e.rdb, stream+":dlq"); n != 0 {
		e.t.Errorf("%d dead letters, want 0", n)
	}
}

// scriptSource is the text of one of the backend's scripts.
func scriptSource(t *testing.T, name string) string {
	src, err := os.ReadFile("scripts/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// scriptSHA is the SHA1 of one of the backend's scripts, as EVALSHA names it.
func scriptSHA(t *testing.T, name string) string {
	sum := sha1.Sum([]byte(scriptSource(t, name)))
	return hex.EncodeToString(sum[:])
}

// evalOf matches EVALSHA or EVAL of the script with that SHA1.
func evalOf(sha string) func(args []string) bool {
	return func(args []string) bool {
		return len(args) > 1 && (strings.EqualFold(args[0], "evalsha") && args[1] == sha ||
			strings.EqualFold(args[0], "eval") && fmt.Sprintf("%x", sha1.Sum([]byte(args[1]))) == sha)
	}
}
