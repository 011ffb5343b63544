package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"go.uber.org/goleak"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/core"
)

func TestMain(m *testing.M) {
	goredis.SetLogger(silent{})
	goleak.VerifyTestMain(m)
}

// necro runs the command line args against url and returns its exit code,
// stdout and stderr.
func necro(t *testing.T, url string, args ...string) (int, string, string) {
	t.Helper()
	return necroIn(t, url, "", args...)
}

// necroIn is necro with stdin as the standard input.
func necroIn(t *testing.T, url, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr, func(k string) string {
		if k == "NECROSTACK_REDIS_URL" {
			return url
		}
		return ""
	})
	return code, stdout.String(), stderr.String()
}

// seeded is a server holding a chain's stream after a run: rituals of
// three events each, every fifth dead-lettered by a failing organ, two
// entries written straight to the stream that are not events (dead-lettered
// by the backend), and entries left pending with two consumers that died.
type seeded struct {
	srv                   *redistest.Server
	rdb                   *goredis.Client
	rituals, dead, length int64
}

const stream = "rites:events"

func seed(t *testing.T) *seeded {
	t.Helper()
	srv := redistest.Start(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	b, err := nsredis.New(ctx, nsredis.Config{URL: srv.URL(), Stream: stream, Block: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := 0
	organs := []core.Organ{
		core.OrganFunc("Summoner", []string{"SUMMON"}, func(context.Context, core.Event) ([]core.Event, error) {
			return []core.Event{core.MustEvent("SPIRIT", nil)}, nil
		}),
		core.OrganFunc("Oracle", []string{"SPIRIT"}, func(context.Context, core.Event) ([]core.Event, error) {
			if n++; n%5 == 0 {
				return nil, core.Permanent(errSilent)
			}
			return []core.Event{core.MustEvent("OMEN", nil)}, nil
		}),
		core.OrganFunc("Scribe", []string{"OMEN"}, func(context.Context, core.Event) ([]core.Event, error) { return nil, nil }),
	}
	s := &seeded{srv: srv, rdb: rdb, rituals: 20}
	spine, err := core.NewSpine(b, organs, core.Config{PullTimeout: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for range s.rituals {
		if err := spine.Enqueue(ctx, core.MustEvent("SUMMON", nil)); err != nil {
			t.Fatal(err)
		}
	}
	for _, junk := range []string{"not json", `{"id":"x"}`} {
		if err := rdb.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{"event", junk}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := spine.RunUntilIdle(ctx); err != nil {
		t.Fatal(err)
	}
	// 20 SUMMON, 20 SPIRIT, 16 OMEN, 2 junk; dead: 4 by the Oracle, 2 junk.
	s.length, s.dead = 20+20+16+2, 4+2
	for range 3 {
		if err := spine.Enqueue(ctx, core.MustEvent("SUMMON", nil)); err != nil {
			t.Fatal(err)
		}
	}
	s.length += 3
	for _, c := range []struct {
		name string
		n    int64
	}{{"dead-1", 2}, {"dead-2", 1}} {
		if err := rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: nsredis.DefaultGroup, Consumer: c.name, Streams: []string{stream, ">"}, Count: c.n}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

var errSilent = errorString("the spirits are silent")

type errorString string

func (e errorString) Error() string { return string(e) }

func TestStatus(t *testing.T) {
	s := seed(t)
	code, out, errOut := necro(t, s.srv.URL(), "status", "-o", "json")
	if code != 0 {
		t.Fatalf("status -o json: exit %d, stderr %s", code, errOut)
	}
	var got []streamJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(got) != 1 || got[0].Stream != stream || got[0].Length != s.length || got[0].DeadLetters != s.dead || len(got[0].Groups) != 1 {
		t.Fatalf("status: %+v; want one stream %s of %d entries, %d dead letters, one group", got, stream, s.length, s.dead)
	}
	g := got[0].Groups[0]
	held := map[string]int64{}
	for _, c := range g.Consumers {
		held[c.Name] = c.Pending
	}
	if g.Name != nsredis.DefaultGroup || g.Pending != 3 || g.Lag != 0 || g.OldestPendingMS < 0 || held["dead-1"] != 2 || held["dead-2"] != 1 {
		t.Errorf("group %+v; want 3 pending (2 with dead-1, 1 with dead-2) and a lag of 0", g)
	}

	code, out, _ = necro(t, s.srv.URL(), "status")
	for _, want := range []string{"STREAM", stream, " 6 ", nsredis.DefaultGroup, "dead-1", "dead-2"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	if code, again, _ := necro(t, s.srv.URL(), "status", stream, "-o", "json"); code != 0 || !strings.Contains(again, `"length": 61`) {
		t.Errorf("status %s: exit %d:\n%s", stream, code, again)
	}
}

// status sums a partitioned stream's partitions under the streams: four
// partitions of "orders", 8 events, 3 of them pulled and held.
func TestStatusPartitioned(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pb, err := nsredis.NewPartitioned(ctx, nsredis.Config{URL: srv.URL(), Stream: "orders", Consumer: "w1", Block: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	for range 8 {
		if err := pb.Enqueue(ctx, core.MustEvent("ORDER", nil)); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, ok, err := pb.Pull(ctx, 5*time.Second); err != nil || !ok {
			t.Fatalf("Pull: %v, %v", ok, err)
		}
	}
	code, out, errOut := necro(t, srv.URL(), "status")
	if code != 0 {
		t.Fatalf("status: exit %d, %s", code, errOut)
	}
	_, summary, found := strings.Cut(out, "PARTITIONED STREAM")
	if !found {
		t.Fatalf("status lacks the partitioned streams:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(summary), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[1]), " ") != "orders 4 8 0" {
		t.Fatalf("status's partitioned streams:\n%s\nwant orders over 4 partitions, 8 entries, 0 dead letters", summary)
	}
	// What the merged reads fetched is pending; the lag is the rest.
	f := strings.Fields(lines[2])
	lag, _ := strconv.Atoi(f[1])
	pending, _ := strconv.Atoi(f[2])
	if f[0] != nsredis.DefaultGroup || lag+pending != 8 || pending < 3 {
		t.Errorf("status's group line %q: want %s with lag + pending = 8, at least 3 pending", lines[2], nsredis.DefaultGroup)
	}
}

func TestPending(t *testing.T) {
	s := seed(t)
	code, out, errOut := necro(t, s.srv.URL(), "pending", stream, "-o", "json")
	if code != 0 {
		t.Fatalf("pending: exit %d, %s", code, errOut)
	}
	var got []pendingJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	by := map[string]int{}
	for _, p := range got {
		by[p.Consumer]++
		if p.Deliveries != 1 || p.ID == "" {
			t.Errorf("entry %+v: want an id, delivered once", p)
		}
	}
	if len(got) != 3 || by["dead-1"] != 2 || by["dead-2"] != 1 {
		t.Errorf("pending: %+v; want 2 of dead-1, 1 of dead-2", got)
	}
	code, out, _ = necro(t, s.srv.URL(), "pending", stream, "--consumer", "dead-1")
	if code != 0 || strings.Count(out, "dead-1") != 2 || !strings.HasSuffix(out, "2 pending in group necrostack of "+stream+"\n") {
		t.Errorf("pending --consumer dead-1: exit %d:\n%s", code, out)
	}
	if code, out, _ = necro(t, s.srv.URL(), "pending", stream, "--limit", "1", "-o", "json"); code != 0 || strings.Count(out, `"id"`) != 1 {
		t.Errorf("pending --limit 1: exit %d:\n%s", code, out)
	}
}

// Bad input is one line on stderr naming the problem, with an exit code
// that says what kind; nothing on stdout.
func TestBadInput(t *testing.T) {
	s := seed(t)
	empty := redistest.Start(t)
	refusing := redistest.Start(t, "--requirepass", "s3cret")
	for _, c := range []struct {
		name string
		url  string
		args []string
		code int
		want string
	}{
		{"unknown stream", s.srv.URL(), []string{"status", "nope"}, 1, "necro: redis: nope on " + s.srv.URL() + ": no such stream (the key holds nothing)"},
		{"unknown stream, pending", s.srv.URL(), []string{"pending", "nope"}, 1, "no such stream"},
		{"unknown group", s.srv.URL(), []string{"pending", stream, "--group", "ghosts"}, 1, `necro: redis: ` + stream + `: no such group "ghosts"`},
		{"no NecroStack stream", empty.URL(), []string{"status"}, 1, "necro: no NecroStack streams on " + empty.URL()},
		{"no answer in time", "redis://127.0.0.1:1", []string{"status", "--timeout", "1ns"}, 3, "necro: redis: redis://127.0.0.1:1: no answer within 1ns"},
		{"nobody there", "redis://127.0.0.1:1", []string{"status"}, 3, "necro: redis: redis://127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused"},
		{"a refused password", "redis://:wrong@" + refusing.Addr(), []string{"status"}, 4, "necro: redis: redis://:xxxxx@" + refusing.Addr() + ": WRONGPASS"},
		{"no password", refusing.URL(), []string{"status"}, 4, "NOAUTH"},
		{"a bad URL", "http://x", []string{"status"}, 2, "URL"},
		{"bad output", s.srv.URL(), []string{"status", "-o", "yaml"}, 2, `necro: -o "yaml": want text or json`},
		{"unknown command", s.srv.URL(), []string{"seance"}, 2, `necro: unknown command "seance" for "necro"`},
		{"unknown flag", s.srv.URL(), []string{"status", "--nope"}, 2, "necro: unknown flag: --nope"},
		{"missing stream", s.srv.URL(), []string{"pending"}, 2, "necro: accepts 1 arg(s), received 0"},
		{"bad limit", s.srv.URL(), []string{"pending", stream, "--limit", "-1"}, 2, "necro: --limit -1: must be 0 (all) or more"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := necro(t, c.url, c.args...)
			if code != c.code || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "wrong@") {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no stdout, one line with %q", code, out, errOut, c.code, c.want)
			}
		})
	}
}

// Every command has help with an example, and a completion script.
func TestHelpAndCompletion(t *testing.T) {
	// Every command of necro's tree, walked so that a new one is checked
	// too; cobra's own help and completion are added at Execute, and have
	// no examples.
	var cmds []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			cmds = append(cmds, strings.TrimPrefix(sub.CommandPath(), "necro "))
			walk(sub)
		}
	}
	walk(newRoot(t.Context(), &options{}, func(string) string { return "" }))
	for _, want := range []string{"status", "pending", "dlq", "dlq ls", "dlq show", "dlq redrive", "dlq purge", "tail", "trace", "graph", "web"} {
		if !slices.Contains(cmds, want) {
			t.Errorf("%q is not among the commands walked: %v", want, cmds)
		}
	}
	for _, cmd := range cmds {
		code, out, _ := necro(t, "", append(strings.Fields(cmd), "--help")...)
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "necro "+cmd) {
			t.Errorf("%s --help: exit %d:\n%s", cmd, code, out)
		}
	}
	if code, out, _ := necro(t, "redis://:hunter2@10.0.0.5:6379/0", "status", "--help"); code != 0 || strings.Contains(out, "hunter2") {
		t.Errorf("status --help with a password in $NECROSTACK_REDIS_URL: exit %d, the password shown: %v", code, strings.Contains(out, "hunter2"))
	}
	code, out, _ := necro(t, "", "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_necro") {
		t.Errorf("completion bash: exit %d, %d bytes", code, len(out))
	}
}

// A user whose ACL refuses what a command needs: one line naming the
// refusal, exit 4, and no password shown.
func TestRefusedACL(t *testing.T) {
	s := seed(t)
	ctx := context.Background()
	if err := s.rdb.Do(ctx, "ACL", "SETUSER", "reader", "on", ">pw-7c1e", "~*", "+@all", "-scan").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Do(ctx, "ACL", "SETUSER", "blind", "on", ">pw-7c1e", "~*", "+@all", "-xinfo").Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user string
		args []string
		want string
	}{
		{"reader", []string{"status"}, "NOPERM"},
		{"blind", []string{"status", stream}, "NOPERM"},
		{"blind", []string{"pending", stream}, ""},
	} {
		url := "redis://" + c.user + ":pw-7c1e@" + s.srv.Addr()
		code, out, errOut := necro(t, url, c.args...)
		if c.want == "" { // XPENDING is allowed: it works
			if code != 0 {
				t.Errorf("%s %v: exit %d, %s", c.user, c.args, code, errOut)
			}
			continue
		}
		if code != 4 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "pw-7c1e") {
			t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want exit 4 and one line with %s", c.user, c.args, code, out, errOut, c.want)
		}
	}
}
