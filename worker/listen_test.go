package worker_test

import (
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/worker"
	"github.com/necrostack/necrostack/worker/workertest"
)

// The listener: /healthz while the process runs; /readyz ready when the
// backend answers, unready while Redis is down and ready again when it is
// back.
func TestReadiness(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes")
	addr := freeAddr(t)
	c := &chain{}
	stop, done := background(c.app(), nil, "-backend", "redis", "-mode", "worker", "-redis-url", srv.URL(), "-listen", addr)
	base := "http://" + addr
	waitFor(t, 10*time.Second, "/readyz 200", func() bool { code, _ := get(base + "/readyz"); return code == 200 })
	if code, body := get(base + "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}

	srv.Kill()
	var body string
	waitFor(t, 10*time.Second, "/readyz 503 with Redis down", func() bool {
		var code int
		code, body = get(base + "/readyz")
		return code == 503
	})
	t.Logf("/readyz with Redis down: %s", strings.TrimSpace(body))
	if code, _ := get(base + "/healthz"); code != 200 {
		t.Errorf("/healthz with Redis down: %d, want 200: the process is alive", code)
	}
	srv.Start()
	waitFor(t, 15*time.Second, "/readyz 200 once Redis is back", func() bool { code, _ := get(base + "/readyz"); return code == 200 })
	select {
	case <-done:
		t.Fatal("the worker exited during the outage")
	default:
	}
	if code, _, stderr := stop(); code != worker.ExitOK {
		t.Errorf("exit %d; stderr:\n%s", code, stderr)
	}
	if code, _ := get(base + "/healthz"); code != 0 {
		t.Errorf("/healthz answered %d after the process stopped", code)
	}
}

// A password changed under a running worker: its pull is refused, it turns
// unready naming the refusal, then stops with a fatal error naming it (exit
// 4). An event held in flight keeps the worker serving once the pull loop
// has stopped (the Spine waits for its handlers), so the unready /readyz is
// seen for certain.
func TestReadinessOnRefusal(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "old")
	url := "redis://:old@" + srv.Addr()
	addr := freeAddr(t)
	c := &chain{seeds: 1, hold: make(chan struct{}), held: make(chan struct{}, 1)}
	var once sync.Once
	release := func() { once.Do(func() { close(c.hold) }) }
	if code, _, stderr := run(t.Context(), c.app(), nil, "-backend", "redis", "-mode", "emit", "-redis-url", url); code != worker.ExitOK {
		t.Fatalf("emit: exit %d; stderr:\n%s", code, stderr)
	}
	// Concurrency 2: the pull goes on beside the held event, and meets the
	// refusal.
	stop, done, logs := backgroundLogs(c.app(), nil, "-backend", "redis", "-mode", "worker",
		"-redis-url", url, "-listen", addr, "-concurrency", "2", "-shutdown-timeout", "1m")
	defer stop()
	defer release() // before stop, which would wait for the held event
	base := "http://" + addr
	waitFor(t, 10*time.Second, "/readyz 200", func() bool { code, _ := get(base + "/readyz"); return code == 200 })
	select {
	case <-c.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the PING was not handed to the Pinger")
	}

	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Password: "old"})
	defer admin.Close()
	if err := admin.ConfigSet(t.Context(), "requirepass", "new").Err(); err != nil {
		t.Fatal(err)
	}
	_ = admin.Do(t.Context(), "CLIENT", "KILL", "TYPE", "normal").Err() // existing connections were authenticated
	waitFor(t, 10*time.Second, "the pull refused", func() bool { return strings.Contains(logs(), "pull refused for good") })
	select {
	case <-done:
		t.Fatal("the worker stopped while an event was in flight")
	default:
	}
	code, body := get(base + "/readyz")
	if code != 503 || !strings.Contains(body, "WRONGPASS") && !strings.Contains(body, "NOAUTH") {
		t.Errorf("/readyz once the pull was refused: %d %q, want 503 naming the refused password", code, body)
	}
	release()
	waitFor(t, 10*time.Second, "the worker stops", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	code, _, stderr := stop()
	if code != worker.ExitRefused || !strings.Contains(stderr, "WRONGPASS") && !strings.Contains(stderr, "NOAUTH") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit %d naming the refused password", code, stderr, worker.ExitRefused)
	}
}

// SIGTERM to a worker process in the middle of a run: the events in flight
// finish and are committed, the rest is handed back, and it exits 0 with
// nothing pending in its name.
func TestSIGTERMDrains(t *testing.T) {
	srv := redistest.Start(t)
	bin := workertest.Build(t, "relay", "./testdata/relay")
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	ctx := t.Context()
	const pings = 40
	var in strings.Builder
	for i := range pings {
		in.WriteString(`{"event_type":"PING","payload":{"n":` + strconv.Itoa(i) + `}}` + "\n")
	}
	input := writeFile(t, in.String())
	if _, stderr, code := workertest.Run(ctx, t, "emit", bin, "-backend", "redis", "-redis-url", srv.URL(), "-mode", "emit", "-input", input); code != 0 {
		t.Fatalf("emit: exit %d; stderr:\n%s", code, stderr)
	}
	p := workertest.Start(t, "relay worker", bin, "-backend", "redis", "-redis-url", srv.URL(), "-mode", "worker",
		"-consumer", "victim", "-delay", "50ms", "-concurrency", "4")
	waitFor(t, 20*time.Second, "the first pongs", func() bool { return strings.Count(p.Stdout(), "pong") >= 3 })
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait(ctx)
	if err != nil || code != 0 {
		t.Fatalf("after SIGTERM: exit %d (%v); stderr:\n%s", code, err, p.Stderr())
	}
	pending, err := rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: "relay:events", Group: "necrostack",
		Consumer: "victim", Start: "-", End: "+", Count: 100}).Result()
	if err != nil || len(pending) != 0 {
		t.Errorf("pending for the stopped worker: %v (%v), want none", pending, err)
	}
	handled := strings.Count(p.Stdout(), "pong")
	if handled == 0 || handled == pings {
		t.Errorf("%d pongs printed: the SIGTERM should have come mid-run", handled)
	}
	// What it did not handle is still there for the next worker.
	p2 := workertest.Start(t, "relay survivor", bin, "-backend", "redis", "-redis-url", srv.URL(), "-mode", "worker", "-consumer", "survivor")
	waitFor(t, 20*time.Second, "the rest of the pongs", func() bool { return handled+strings.Count(p2.Stdout(), "pong") >= pings })
	if code := p2.Stop(10 * time.Second); code != 0 {
		t.Errorf("survivor: exit %d", code)
	}
	if total := handled + strings.Count(p2.Stdout(), "pong"); total != pings {
		t.Errorf("%d pongs in all, want %d: SIGTERM lost or repeated work", total, pings)
	}
}
