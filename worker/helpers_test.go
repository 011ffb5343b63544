package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker"
	"github.com/necrostack/necrostack/worker/workertest"
)

// TestMain fails the package if a test leaves a goroutine behind, and
// removes the binaries the tests built. The cleanup exits with goleak's
// code: a cleanup that returns instead drops it, and the package passed
// with a leak reported.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		workertest.RemoveBuilds()
		os.Exit(code)
	}))
}

// chain is a two-stage app for the tests: PING emits PONG, and the Ponger
// counts what it handles; each call takes delay (honouring ctx).
type chain struct {
	delay  time.Duration
	pings  atomic.Int64
	pongs  atomic.Int64
	seeds  int // events a run or an emit seeds; 0: read from -input
	failOn string
	// hold, when set, keeps every Pinger call until it is closed (or its
	// ctx is done), after a send on held, which must be buffered: a test
	// that needs an event in flight at a given moment.
	hold, held chan struct{}
}

func (c *chain) app() worker.App {
	app := worker.App{
		Name:   "chain",
		Stream: "chain:events",
		Organs: func(p *worker.Process) ([]core.Organ, error) {
			wait := func(ctx context.Context) error {
				select {
				case <-time.After(c.delay):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return []core.Organ{
				core.OrganFunc("Pinger", []string{"PING"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
					c.pings.Add(1)
					if c.hold != nil {
						select {
						case c.held <- struct{}{}:
						default:
						}
						select {
						case <-c.hold:
						case <-ctx.Done():
							return nil, ctx.Err()
						}
					}
					if err := wait(ctx); err != nil {
						return nil, err
					}
					if c.failOn == "Pinger" {
						return nil, core.Permanent(fmt.Errorf("no"))
					}
					pong, err := core.NewEvent("PONG", e.Payload())
					return core.Emit(pong), err
				}),
				core.OrganFunc("Ponger", []string{"PONG"}, func(ctx context.Context, e core.Event) ([]core.Event, error) {
					if err := wait(ctx); err != nil {
						return nil, err
					}
					c.pongs.Add(1)
					return nil, nil
				}),
			}, nil
		},
	}
	if c.seeds > 0 {
		app.Seeds = func(*worker.Process) ([]core.Event, error) {
			out := make([]core.Event, c.seeds)
			for i := range out {
				out[i] = core.MustEvent("PING", map[string]int{"n": i + 1})
			}
			return out, nil
		}
	}
	return app
}

// run runs app in this process and returns its exit code and output.
func run(ctx context.Context, app worker.App, env map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errs workertest.Buffer
	code = worker.Run(ctx, app, args, func(k string) string { return env[k] }, &out, &errs)
	return code, out.String(), errs.String()
}

// background runs app in this process until the returned stop is called,
// which returns the exit code and output.
func background(app worker.App, env map[string]string, args ...string) (stop func() (int, string, string), done <-chan struct{}) {
	stop, done, _ = backgroundLogs(app, env, args...)
	return stop, done
}

// backgroundLogs is background that also returns what the process has
// logged so far, for a test to wait for a log line.
func backgroundLogs(app worker.App, env map[string]string, args ...string) (stop func() (int, string, string), done <-chan struct{}, logs func() string) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errs workertest.Buffer
	ch := make(chan struct{})
	var code int
	go func() {
		defer close(ch)
		code = worker.Run(ctx, app, args, func(k string) string { return env[k] }, &out, &errs)
	}()
	var once sync.Once
	return func() (int, string, string) {
		once.Do(cancel)
		<-ch
		return code, out.String(), errs.String()
	}, ch, errs.String
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// get fetches url and returns the status and body; status 0 when it could
// not connect.
func get(url string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond until it holds, failing t after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v", what, limit)
		}
	}
}

func writeFile(t *testing.T, content string) string {
	f, err := os.CreateTemp(t.TempDir(), "input-*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	return f.Name()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
