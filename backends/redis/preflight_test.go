package redis_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

// Misconfiguration is not an outage: New fails at once with a fatal error
// (core.ErrFatal) that names what is wrong, instead of a worker that looks
// healthy and retries for ever.
func TestMisconfigurationFailsNew(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr(), Password: "s3cret"})
	defer admin.Close()
	ctx := ctxT(t)
	user := func(name string, rules ...string) {
		args := []any{"ACL", "SETUSER", name, "reset", "on", ">pw", "~*", "&*", "+@all"}
		for _, r := range rules {
			args = append(args, r)
		}
		if err := admin.Do(ctx, args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.Set(ctx, "a-string", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	base := "redis://" + srv.Addr()
	as := func(name string) string { return "redis://" + name + ":pw@" + srv.Addr() }
	tests := []struct {
		name   string
		rules  []string // ACL rules of the user, when the case has one
		url    string
		stream string
		want   string // in the error
	}{
		{name: "no password", url: base, want: "NOAUTH"},
		{name: "wrong password", url: "redis://:wrong@" + srv.Addr(), want: "WRONGPASS"},
		{name: "no XADD", rules: []string{"-xadd"}, want: "may not run XADD"},
		{name: "no XREADGROUP", rules: []string{"-xreadgroup"}, want: "may not run XREADGROUP"},
		{name: "no XACK", rules: []string{"-xack"}, want: "may not run XACK"},
		{name: "no XCLAIM", rules: []string{"-xclaim"}, want: "may not run XCLAIM"},
		{name: "no XAUTOCLAIM", rules: []string{"-xautoclaim"}}, // the backend claims with XCLAIM
		{name: "no XGROUP", rules: []string{"-xgroup"}, want: "'xgroup|create' command"},
		{name: "no EVALSHA", rules: []string{"-evalsha"}, want: "'evalsha' command"},
		{name: "no EVAL", rules: []string{"-eval"}, want: "'eval' command"},
		{name: "no SCRIPT", rules: []string{"-script"}}, // not needed: EVALSHA, then EVAL
		{name: "no access to the dead-letter stream", rules: []string{"resetkeys", "~necrostack:events", "~necrostack:events:commit:*"}, want: "uses the keys necrostack:events (stream), necrostack:events:dlq (dead letters)"},
		{name: "a stream key holding a string", url: "redis://:s3cret@" + srv.Addr(), stream: "a-string", want: "WRONGTYPE key a-string holds a string, not a stream"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if tt.rules != nil {
				name := fmt.Sprintf("user%d", i)
				user(name, tt.rules...)
				url = as(name)
			}
			stream := tt.stream
			if stream == "" {
				stream = nsredis.DefaultStream
			}
			start := time.Now()
			b, err := nsredis.New(ctx, nsredis.Config{URL: url, Stream: stream, Logger: discard()})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v, want it to work", err)
				}
				_ = b.Close()
				return
			}
			if err == nil {
				_ = b.Close()
				t.Fatalf("New succeeded, want an error saying %q", tt.want)
			}
			t.Logf("New: %v", err)
			if !errors.Is(err, core.ErrFatal) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want a fatal error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows a password: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("New took %v to fail", d)
			}
		})
	}
}

// A permission taken away while a worker runs is fatal at the next use: the
// Spine stops with an error naming the command, after handing back what it
// held, and commits nothing.
func TestPermissionRevokedStopsTheSpine(t *testing.T) {
	srv := redistest.Start(t)
	admin := inspect(t, srv.Addr())
	ctx := ctxT(t)
	if err := admin.Do(ctx, "ACL", "SETUSER", "worker", "on", ">pw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, nsredis.Config{URL: "redis://worker:pw@" + srv.Addr()})
	if err := admin.Do(ctx, "ACL", "SETUSER", "worker", "-xack").Err(); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	s, err := core.NewSpine(b, []core.Organ{core.OrganFunc("Only", []string{"E"}, func(context.Context, core.Event) ([]core.Event, error) {
		calls.Add(1)
		return nil, nil
	})}, core.Config{MaxSteps: core.NoStepLimit, PullTimeout: 100 * time.Millisecond, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Enqueue(ctx, ev(t, "E", 1)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, core.ErrFatal) || !strings.Contains(err.Error(), "can't run") {
			t.Errorf("Run: %v, want a fatal error about the refused command", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run went on after the worker lost a permission it needs")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the organ ran %d times, want once (before the refused commit)", n)
	}
	if s.Stats().Emitted != 0 {
		t.Errorf("stats %+v: nothing should be committed", s.Stats())
	}
}

// A server older than Redis 7.0 is refused by New. A fake server stands in
// for one: it answers INFO with an old version and OK to the rest.
func TestOldRedisFailsNew(t *testing.T) {
	addr := fakeRedis(t, "6.2.14")
	_, err := nsredis.New(ctxT(t), nsredis.Config{URL: "redis://" + addr, Logger: discard()})
	t.Logf("New: %v", err)
	if !errors.Is(err, core.ErrFatal) || !strings.Contains(err.Error(), "Redis 6.2.14: the backend needs 7.0 or later") {
		t.Errorf("New against Redis 6.2.14: %v, want a fatal error about the version", err)
	}
}

// fakeRedis serves RESP2 on a loopback port: HELLO is unknown (so clients
// fall back to RESP2), INFO reports version, everything else is OK.
func fakeRedis(t *testing.T, version string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					args, err := readCommand(r)
					if err != nil {
						return
					}
					var reply string
					switch strings.ToUpper(args[0]) {
					case "HELLO":
						reply = "-ERR unknown command 'HELLO'\r\n"
					case "INFO":
						body := "# Server\r\nredis_version:" + version + "\r\n"
						reply = fmt.Sprintf("$%d\r\n%s\r\n", len(body), body)
					default:
						reply = "+OK\r\n"
					}
					if _, err := c.Write([]byte(reply)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	var n int
	if _, err := fmt.Sscanf(line, "*%d\r\n", &n); err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		if _, err := r.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		a, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimSuffix(a, "\r\n")
	}
	return args, nil
}

// The checks of New and Ready change nothing: no entry is delivered, none
// added, none acknowledged.
func TestPreflightChangesNothing(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	producer := newBackend(t, nsredis.Config{URL: srv.URL(), Mode: nsredis.ModeStream})
	for i := range 3 {
		if err := producer.Enqueue(ctx, ev(t, "E", i)); err != nil {
			t.Fatal(err)
		}
	}
	b := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "checker"})
	for range 2 {
		if err := b.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Length != 3 || st.DeadLetters != 0 || len(st.Groups) != 1 || st.Groups[0].Pending != 0 || st.Groups[0].Lag != 3 {
		t.Errorf("after New and two Ready: %+v, want 3 entries, none delivered or pending", st)
	}
	if len(st.Groups) == 1 && len(st.Groups[0].Consumers) != 0 {
		t.Errorf("the checks left consumers in the group: %+v; a process that never reads must leave none", st.Groups[0].Consumers)
	}
}

// The checks leave a consumer that was in the group before them as it was:
// its pending entries stay with it.
func TestPreflightKeepsAKnownConsumer(t *testing.T) {
	srv := redistest.Start(t)
	rdb := inspect(t, srv.Addr())
	ctx := ctxT(t)
	first := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "w1"})
	for i := range 3 {
		if err := first.Enqueue(ctx, ev(t, "E", i)); err != nil {
			t.Fatal(err)
		}
	}
	readAs(t, rdb, "w1", 2) // w1 held two, and died
	again := newBackend(t, nsredis.Config{URL: srv.URL(), Consumer: "w1", ClaimMinIdle: time.Hour})
	if err := again.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	consumers, err := rdb.XInfoConsumers(ctx, stream, nsredis.DefaultGroup).Result()
	if err != nil || len(consumers) != 1 || consumers[0].Name != "w1" || consumers[0].Pending != 2 {
		t.Errorf("after a new process's checks under the same name: %+v, %v; want w1 still holding 2", consumers, err)
	}
}

// A password required while a worker runs: once its connections are gone,
// Ready fails with a fatal error naming the refusal, and passes again once
// the password is dropped (a refusal that was mended heals).
func TestReadyRefusedPasswordHeals(t *testing.T) {
	srv := redistest.Start(t)
	ctx := ctxT(t)
	b := newBackend(t, nsredis.Config{URL: srv.URL()})
	if err := b.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v, want nil", err)
	}
	// One connection, authenticated before the password is set, which
	// stays so: a pooled client would dial anew without a password.
	admin := inspect(t, srv.Addr()).Conn()
	defer admin.Close()
	if err := admin.ConfigSet(ctx, "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	killed, err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Int()
	if err != nil || killed == 0 {
		t.Fatalf("CLIENT KILL: %d killed, %v; want the backend's connections killed", killed, err)
	}
	err = b.Ready(ctx)
	t.Logf("Ready with a password required: %v", err)
	if !errors.Is(err, core.ErrFatal) || !strings.Contains(err.Error(), "NOAUTH") && !strings.Contains(err.Error(), "WRONGPASS") {
		t.Errorf("Ready: %v, want a fatal error saying NOAUTH or WRONGPASS", err)
	}
	if err := admin.ConfigSet(ctx, "requirepass", "").Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Ready(ctx); err != nil {
		t.Errorf("Ready once the password was dropped: %v, want nil", err)
	}
}
