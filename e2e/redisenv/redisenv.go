package redisenv

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Kind is how a Redis runs.
type Kind string

// The kinds of Redis.
const (
	// Docker is a container started with testcontainers-go.
	Docker Kind = "docker"
	// Process is a redis-server child process.
	Process Kind = "process"
)

// Config configures a Redis. The zero value means a persistent Redis,
// started at once, on a free loopback port.
type Config struct {
	// NoPersistence runs Redis without the append-only file or snapshots,
	// so that a restart comes back empty. Default: appendonly yes,
	// appendfsync always.
	NoPersistence bool
	// HostPort is the port on 127.0.0.1 that Redis serves, across restarts.
	// Default: a free port picked at Start.
	HostPort int
	// Stopped prepares Redis without starting it: the test calls Start when
	// it wants Redis up, to show what clients do before that.
	Stopped bool
	// ReadyTimeout bounds each wait for Redis to answer PING after a start.
	// Default 30s.
	ReadyTimeout time.Duration

	// args are more redis-server options, and hostNetwork runs a
	// container in the host's network, listening on HostPort itself: for
	// the nodes of a cluster, which reach each other on 127.0.0.1.
	args        []string
	hostNetwork bool
}

// server is a Redis of one kind, driven by Redis. Its methods are called
// with Redis's lock held, never concurrently.
type server interface {
	start(ctx context.Context) error
	// kill ends Redis at once, as a crash would, and returns once it is
	// gone.
	kill(ctx context.Context) error
	// stop ends Redis gracefully (SIGTERM: it writes what it must and
	// exits), and returns once it is gone.
	stop(ctx context.Context) error
	// exited reports whether Redis, once started, has ended by itself.
	exited(ctx context.Context) bool
	// logs returns the tail of Redis's log.
	logs(ctx context.Context) string
	// remove ends Redis and deletes what it left: container, files.
	remove(ctx context.Context) error
}

// Redis is a real Redis server for one test, at a fixed address on
// 127.0.0.1 for the life of the test. Its methods end the test with Fatal
// when they fail, so call them from the test's goroutine; the accessors
// (Addr, URL, Kind) may be called from anywhere.
type Redis struct {
	t    testing.TB
	kind Kind
	port int
	opts Config
	srv  server

	mu      sync.Mutex
	running bool
	starts  int
}

// Start returns a Redis for t, started unless opts.Stopped, and removes it
// (container or process, and its data) when t ends. It skips t when no kind
// of Redis can run here and none is required, and fails t when Docker is
// required (NECROSTACK_E2E_REQUIRE_DOCKER) but cannot be reached.
func Start(t testing.TB, opts Config) *Redis {
	t.Helper()
	env := environmentOnce()
	if env.err != nil {
		t.Fatalf("redisenv: %v", env.err)
	}
	if env.skip != "" {
		t.Skipf("redisenv: %s", env.skip)
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	port := opts.HostPort
	if port == 0 {
		p, err := freePort()
		if err != nil {
			t.Fatalf("redisenv: pick a free port: %v", err)
		}
		port = p
	}
	r := &Redis{t: t, kind: env.kind, port: port, opts: opts}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	switch env.kind {
	case Docker:
		r.srv, err = newContainer(ctx, t, env, port, redisArgs(opts), opts.hostNetwork)
	default:
		r.srv, err = newChild(t, env, port, redisArgs(opts))
	}
	if err != nil {
		t.Fatalf("redisenv: prepare %s Redis: %v", env.kind, err)
	}
	t.Cleanup(r.cleanup)
	t.Logf("redisenv: %s Redis on %s, persistence %s (%s)", env.kind, r.Addr(), persistence(opts), env.detail)
	if !opts.Stopped {
		r.Start()
	}
	return r
}

// redisArgs are the options every kind passes to redis-server, beside the
// port, address and directory each kind sets.
func redisArgs(opts Config) []string {
	args := []string{"--protected-mode", "no", "--save", ""}
	if opts.NoPersistence {
		args = append(args, "--appendonly", "no")
	} else {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	return append(args, opts.args...)
}

func persistence(opts Config) string {
	if opts.NoPersistence {
		return "off"
	}
	return "AOF, appendfsync always"
}

// Kind says how this Redis runs.
func (r *Redis) Kind() Kind { return r.kind }

// Addr is Redis's address: 127.0.0.1 and its fixed port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is Redis's redis:// URL.
func (r *Redis) URL() string { return "redis://" + r.Addr() }

// Port is Redis's port on 127.0.0.1.
func (r *Redis) Port() int { return r.port }

func (r *Redis) String() string { return fmt.Sprintf("%s Redis on %s", r.kind, r.Addr()) }

// Client returns a go-redis client for this Redis, closed when the test
// ends.
func (r *Redis) Client() *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr()})
	r.t.Cleanup(func() { c.Close() })
	return c
}

// Running reports whether Redis was started and not since killed or
// stopped by the test.
func (r *Redis) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

// Start starts Redis, again after Kill or Stop, on the same port and with
// the same data directory, and waits until it answers PING.
func (r *Redis) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		r.t.Fatalf("redisenv: Start: %s is already running", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.ReadyTimeout+30*time.Second)
	defer cancel()
	if err := r.srv.start(ctx); err != nil {
		r.t.Fatalf("redisenv: start %s: %v\n%s", r, err, r.srv.logs(ctx))
	}
	r.running = true
	r.starts++
	if err := r.waitReady(ctx); err != nil {
		r.t.Fatalf("redisenv: %s did not answer PING: %v\nRedis log:\n%s", r, err, r.srv.logs(ctx))
	}
}

// waitReady polls PING until Redis answers, Redis exits, or
// opts.ReadyTimeout passes.
func (r *Redis) waitReady(ctx context.Context) error {
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	deadline := time.Now().Add(r.opts.ReadyTimeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.Ping(pctx).Err()
		cancel()
		switch {
		case err == nil:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("after %v: %w", r.opts.ReadyTimeout, err)
		case r.srv.exited(ctx):
			return fmt.Errorf("redis-server exited: %w", err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Kill ends Redis at once: SIGKILL to the process, or a container kill.
// Whatever it had not written to its append-only file is lost, as in a
// crash.
func (r *Redis) Kill() {
	r.t.Helper()
	r.halt("kill", r.srv.kill)
}

// Stop shuts Redis down gracefully (SIGTERM, or docker stop), as an operator
// would.
func (r *Redis) Stop() {
	r.t.Helper()
	r.halt("stop", r.srv.stop)
}

func (r *Redis) halt(what string, f func(context.Context) error) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		r.t.Fatalf("redisenv: %s: %s is not running", what, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f(ctx); err != nil {
		r.t.Fatalf("redisenv: %s %s: %v", what, r, err)
	}
	r.running = false
}

// Logs returns the tail of Redis's own log, for failure messages.
func (r *Redis) Logs() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.srv.logs(ctx)
}

func (r *Redis) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if r.t.Failed() {
		r.t.Logf("redisenv: log of %s:\n%s", r, r.srv.logs(ctx))
	}
	if err := r.srv.remove(ctx); err != nil {
		r.t.Errorf("redisenv: remove %s: %v", r, err)
	}
}

// freePort returns a loopback port nobody listened on a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
