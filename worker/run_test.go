package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker"
)

// A run on memory seeds, handles until the chain is done and reports to
// End; an app without seeds reads them from -input.
func TestRunOnMemory(t *testing.T) {
	c := &chain{seeds: 5}
	app := c.app()
	var got worker.Result
	app.End = func(p *worker.Process, r worker.Result) error { got = r; return nil }
	code, _, stderr := run(context.Background(), app, nil)
	if code != worker.ExitOK || c.pongs.Load() != 5 {
		t.Fatalf("exit %d, %d pongs; stderr:\n%s", code, c.pongs.Load(), stderr)
	}
	if got.Mode != worker.ModeRun || got.Seeded != 5 || got.Stats.Handled != 10 || got.Stats.Emitted != 5 || got.Interrupted {
		t.Errorf("result %+v", got)
	}

	c = &chain{}
	input := writeFile(t, `{"event_type":"PING","payload":{"n":1}}`+"\n\n"+
		string(must(core.MustEvent("PING", map[string]int{"n": 2}).MarshalJSON()))+"\n")
	code, _, stderr = run(context.Background(), c.app(), nil, "-mode", "run", "-input", input)
	if code != worker.ExitOK || c.pongs.Load() != 2 {
		t.Errorf("run of -input: exit %d, %d pongs; stderr:\n%s", code, c.pongs.Load(), stderr)
	}
	code, _, stderr = run(context.Background(), c.app(), nil, "-mode", "run", "-input", writeFile(t, `{"event_type":"PING","extra":1}`))
	if code != worker.ExitFailed || !strings.Contains(stderr, "line 1: want an event") {
		t.Errorf("a bad input line: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = run(context.Background(), c.app(), nil, "-mode", "run", "-input", "/no/such/file")
	if code != worker.ExitFailed || !strings.Contains(stderr, "-input: open /no/such/file: no such file or directory") {
		t.Errorf("a missing input: exit %d, stderr:\n%s", code, stderr)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// End's verdict is the exit status; Finish ends a run once its work is done;
// a run interrupted before its work is done exits 1.
func TestRunVerdicts(t *testing.T) {
	c := &chain{seeds: 2, failOn: "Pinger"}
	app := c.app()
	app.End = func(p *worker.Process, r worker.Result) error {
		if len(r.DeadLetters) > 0 {
			return errors.New("some pings failed")
		}
		return nil
	}
	if code, _, stderr := run(context.Background(), app, nil); code != worker.ExitFailed || !strings.Contains(stderr, "chain: some pings failed") {
		t.Errorf("dead letters: exit %d, stderr:\n%s", code, stderr)
	}

	c = &chain{seeds: 1, delay: time.Hour}
	app = c.app()
	app.Begin = func(p *worker.Process) { p.Finish() } // done before anything is handled
	code, _, stderr := run(context.Background(), app, nil, "-shutdown-timeout", "10ms")
	if code != worker.ExitOK {
		t.Errorf("a finished run: exit %d; stderr:\n%s", code, stderr)
	}

	c = &chain{seeds: 1, delay: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	app = c.app()
	app.Begin = func(*worker.Process) { cancel() } // a signal
	code, _, stderr = run(ctx, app, nil, "-shutdown-timeout", "10ms")
	if code != worker.ExitFailed || !strings.Contains(stderr, "interrupted before the work was done") {
		t.Errorf("an interrupted run: exit %d, stderr:\n%s", code, stderr)
	}
}

// On Redis: emit seeds and exits, a worker handles until stopped and then
// exits 0, and redrive hands the dead letters back.
func TestModesOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	env := map[string]string{"NECROSTACK_BACKEND": "redis", "NECROSTACK_REDIS_URL": srv.URL()}
	c := &chain{seeds: 20}
	code, stdout, stderr := run(context.Background(), c.app(), env, "-mode", "emit")
	if code != worker.ExitOK || strings.TrimSpace(stdout) != "enqueued 20 events to chain:events" {
		t.Fatalf("emit: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	stop, _ := background(c.app(), env, "-mode", "worker", "-consumer", "w1")
	waitFor(t, 10*time.Second, "20 pongs", func() bool { return c.pongs.Load() == 20 })
	if code, _, stderr := stop(); code != worker.ExitOK {
		t.Errorf("worker stopped by its context: exit %d; stderr:\n%s", code, stderr)
	}

	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	b, err := nsredis.New(ctx, nsredis.Config{Client: rdb, Stream: "chain:events", Mode: nsredis.ModeStream, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 3 {
		if err := b.DeadLetter(ctx, core.DeadLetter{Event: core.MustEvent("PING", map[string]int{"n": 100 + i}), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr = run(ctx, c.app(), env, "-mode", "redrive")
	if code != worker.ExitOK || strings.TrimSpace(stdout) != "redrove 3 dead letters from chain:events:dlq to chain:events" {
		t.Errorf("redrive: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	if n, _ := rdb.XLen(ctx, "chain:events:dlq").Result(); n != 0 {
		t.Errorf("%d dead letters left after the redrive", n)
	}
}

// Emit and workers on a partitioned stream, shared and ordered: the seeds
// spread over the partitions, and two ordered workers handle them all
// while sharing the partitions out.
func TestPartitionsOnRedis(t *testing.T) {
	srv := redistest.Start(t)
	env := map[string]string{"NECROSTACK_BACKEND": "redis", "NECROSTACK_REDIS_URL": srv.URL(), "NECROSTACK_PARTITIONS": "4"}
	c := &chain{seeds: 40}
	code, stdout, stderr := run(context.Background(), c.app(), env, "-mode", "emit")
	if code != worker.ExitOK || strings.TrimSpace(stdout) != "enqueued 40 events to chain:events (4 partitions)" {
		t.Fatalf("emit: exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	for i := range 4 {
		if n, err := rdb.XLen(ctx, nsredis.PartitionStream("chain:events", i, 4)).Result(); err != nil || n != 10 {
			t.Errorf("partition %d holds %d (%v), want 10", i, n, err)
		}
	}
	stop, _ := background(c.app(), env, "-mode", "worker", "-consumer", "shared")
	waitFor(t, 10*time.Second, "40 pongs", func() bool { return c.pongs.Load() == 40 })
	if code, _, stderr := stop(); code != worker.ExitOK {
		t.Errorf("shared worker: exit %d; stderr:\n%s", code, stderr)
	}
	code, _, stderr = run(context.Background(), c.app(), env, "-mode", "emit")
	if code != worker.ExitOK {
		t.Fatalf("emit: exit %d, stderr:\n%s", code, stderr)
	}
	stop1, _ := background(c.app(), env, "-mode", "worker", "-ordered", "-lease-ttl", "3s", "-consumer", "ordered-1", "-concurrency", "4")
	stop2, _ := background(c.app(), env, "-mode", "worker", "-ordered", "-lease-ttl", "3s", "-consumer", "ordered-2", "-concurrency", "4")
	waitFor(t, 20*time.Second, "80 pongs", func() bool { return c.pongs.Load() == 80 })
	for _, stop := range []func() (int, string, string){stop1, stop2} {
		if code, _, stderr := stop(); code != worker.ExitOK {
			t.Errorf("ordered worker: exit %d; stderr:\n%s", code, stderr)
		}
	}
	for i := range 4 {
		key := nsredis.PartitionStream("chain:events", i, 4) + ":owner"
		if owner, err := rdb.HGet(ctx, key, "owner").Result(); err != nil || owner != "" {
			t.Errorf("partition %d's owner after both stopped: %q (%v), want none: each releases its leases", i, owner, err)
		}
	}
}

// Modes that need Redis at once give up on an unreachable server (exit 3,
// naming it without its password) and on a refusal (exit 4, naming it); a
// worker waits for an unreachable one instead.
func TestRedisUnreachableOrRefused(t *testing.T) {
	dead := "redis://user:s3cret@" + freeAddr(t)
	for _, mode := range []string{"run", "emit", "redrive"} {
		c := &chain{seeds: 1}
		start := time.Now()
		code, _, stderr := run(context.Background(), c.app(), map[string]string{"NECROSTACK_REDIS_URL": dead}, "-backend", "redis", "-mode", mode)
		if code != worker.ExitUnavailable || !strings.Contains(stderr, "redis at redis://user:xxxxx@") || strings.Contains(stderr, "s3cret") {
			t.Errorf("-mode %s on a dead server: exit %d, stderr:\n%s", mode, code, stderr)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("-mode %s took %v to give up", mode, d)
		}
	}

	srv := redistest.Start(t, "--requirepass", "right")
	c := &chain{seeds: 1}
	start := time.Now()
	code, _, stderr := run(context.Background(), c.app(), nil, "-backend", "redis", "-mode", "worker", "-redis-url", srv.URL())
	if code != worker.ExitRefused || !strings.Contains(stderr, "NOAUTH") {
		t.Errorf("a worker without the password: exit %d, stderr:\n%s", code, stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the refused worker took %v to exit", d)
	}
	if c.pings.Load() != 0 {
		t.Errorf("a handler ran %d times for a refused worker", c.pings.Load())
	}
}

// A worker whose user may not run the commit script exits non-zero within
// 5s, naming the refused command, and no handler runs.
func TestRefusedCommitPath(t *testing.T) {
	srv := redistest.Start(t)
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer admin.Close()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "noscript", "on", ">pw", "~*", "&*", "+@all", "-evalsha").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.XAdd(ctx, &goredis.XAddArgs{Stream: "chain:events", Values: []any{"event",
		string(must(core.MustEvent("PING", nil).MarshalJSON()))}}).Err(); err != nil {
		t.Fatal(err)
	}
	c := &chain{}
	start := time.Now()
	code, _, stderr := run(ctx, c.app(), nil, "-backend", "redis", "-mode", "worker", "-redis-url", "redis://noscript:pw@"+srv.Addr())
	took := time.Since(start)
	if code != worker.ExitRefused || !strings.Contains(stderr, "'evalsha' command") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit %d naming evalsha", code, stderr, worker.ExitRefused)
	}
	if took > 5*time.Second {
		t.Errorf("the worker took %v to exit", took)
	}
	if n := c.pings.Load(); n != 0 {
		t.Errorf("a handler ran %d times though the commit path is refused", n)
	}
	t.Logf("exit %d after %v: %s", code, took.Round(time.Millisecond), strings.TrimSpace(stderr))
}

// App.Spine adjusts the Spine's configuration (here, one attempt and an
// Observer); a bad -input is said before Redis is even tried.
func TestSpineHookAndInputFirst(t *testing.T) {
	c := &chain{seeds: 1, failOn: "Pinger"}
	app := c.app()
	var dead []core.DeadLetter
	app.Spine = func(p *worker.Process, cfg *core.Config) {
		cfg.Retry.MaxAttempts = 1
		cfg.Observer = &core.Observer{DeadLettered: func(_ context.Context, dl core.DeadLetter) { dead = append(dead, dl) }}
	}
	run(context.Background(), app, nil)
	if c.pings.Load() != 1 || len(dead) != 1 || dead[0].Attempts != 1 {
		t.Errorf("%d calls, dead letters %+v: want one attempt, seen by the Observer", c.pings.Load(), dead)
	}

	code, _, stderr := run(context.Background(), (&chain{}).app(), nil, "-backend", "redis", "-mode", "emit",
		"-redis-url", "redis://"+freeAddr(t), "-input", "/no/such/file")
	if code != worker.ExitFailed || !strings.Contains(stderr, "-input: open /no/such/file") || strings.Contains(stderr, "redis at") {
		t.Errorf("exit %d, stderr:\n%s\nwant the input's error, before any attempt at Redis", code, stderr)
	}
}
