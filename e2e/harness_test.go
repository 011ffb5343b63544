package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/e2e/redisenv"
	"github.com/necrostack/necrostack/worker/workertest"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial on its own; the tests kill Redis on
	// purpose and report what matters themselves.
	goredis.SetLogger(silentRedis{})
	code := m.Run()
	workertest.RemoveBuilds()
	os.Exit(code)
}

type silentRedis struct{}

func (silentRedis) Printf(context.Context, string, ...any) {}

// group is the consumer group every worker of a scenario joins.
const group = "e2e"

// The séance chain's event types, in order.
var seanceTypes = []string{"SUMMON_RITUAL", "SPIRIT_APPEARED", "ANSWER_GENERATED", "OMEN_REVEALED"}

// The ETL chain's event types, in order.
var etlTypes = []string{"ETL_START", "RAW_DATA_LOADED", "DATA_CLEANED", "DATA_TRANSFORMED"}

// scenario bounds a test: its context ends after limit, and every wait of
// the test ends with it. Under -short it skips the test: the scenarios need
// Docker or redis-server and take a minute.
func scenario(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end scenario: run without -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	return ctx
}

// appBinary returns the path of app's command (the package apps/<app>/cmd
// of the repository, such as "seance" or "etl"), built on first use in this
// test binary. The e2e module does not import the apps: the command is built
// with the go tool in the app's own module folder, exactly as a user would
// build it. NECROSTACK_E2E_<APP>_BIN (NECROSTACK_E2E_SEANCE_BIN, ...) names
// a prebuilt binary to use instead, to test a released build.
func appBinary(t *testing.T, app string) string {
	t.Helper()
	if p := os.Getenv("NECROSTACK_E2E_" + strings.ToUpper(app) + "_BIN"); p != "" {
		return p
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return workertest.Build(t, app, filepath.Join(root, "apps", app, "cmd"))
}

// repoRoot is the closest folder above the working directory (the test's
// package folder) that holds apps/.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if info, err := os.Stat(filepath.Join(dir, "apps")); err == nil && info.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no apps/ folder above the working directory: run the tests from the repository")
		}
		dir = parent
	}
}

// fleet runs one app's commands against one stream of one Redis: worker
// processes in the group, and one-shot commands (emit).
type fleet struct {
	t       *testing.T
	app     string
	bin     string
	redis   *redisenv.Redis
	rdb     *goredis.Client
	stream  string
	workers []*workertest.Proc
	ended   map[*workertest.Proc]bool // stopped or killed by the test
}

func newFleet(t *testing.T, app string, r *redisenv.Redis, stream string) *fleet {
	t.Helper()
	return &fleet{t: t, app: app, bin: appBinary(t, app), redis: r, rdb: r.Client(), stream: stream, ended: make(map[*workertest.Proc]bool)}
}

// args are the flags every command of the fleet takes, on Redis at url.
func (f *fleet) args(mode, url string, extra ...string) []string {
	return append([]string{"-backend", "redis", "-mode", mode, "-redis-url", url, "-stream", f.stream}, extra...)
}

// worker starts a worker named name: its consumer name in the group, and
// the name of its connections to Redis, as CLIENT LIST shows them (see
// waitDisconnected).
func (f *fleet) worker(name string, extra ...string) *workertest.Proc {
	f.t.Helper()
	url := f.redis.URL() + "?client_name=" + neturl.QueryEscape(name)
	args := f.args("worker", url, append([]string{"-group", group, "-consumer", name, "-log-level", "info"}, extra...)...)
	if f.app == "seance" && !slices.Contains(extra, "-concurrency") {
		args = append(args, "-concurrency", "4")
	}
	p := workertest.Start(f.t, f.app+" worker "+name, f.bin, args...)
	f.workers = append(f.workers, p)
	return p
}

// run runs the app in mode to completion and returns its stdout; anything
// but exit 0 fails the test.
func (f *fleet) run(ctx context.Context, mode string, extra ...string) string {
	f.t.Helper()
	stdout, stderr, code := workertest.Run(ctx, f.t, f.app+" "+mode, f.bin, f.args(mode, f.redis.URL(), extra...)...)
	if code != 0 {
		f.t.Fatalf("%s -mode %s %v: exit %d\nstdout:\n%s\nstderr:\n%s", f.app, mode, extra, code, stdout, workertest.Tail(stderr, 30))
	}
	return stdout
}

// emitSeance enqueues n rituals of the séance id and checks what emit says.
func (f *fleet) emitSeance(ctx context.Context, id string, n int) {
	f.t.Helper()
	out := f.run(ctx, "emit", "-seance", id, "-rituals", strconv.Itoa(n))
	want := fmt.Sprintf("enqueued %d rituals (séance %s) to %s", n, id, f.stream)
	if strings.TrimSpace(out) != want {
		f.t.Fatalf("seance -mode emit printed %q, want %q", out, want)
	}
}

// alive fails the test at once if a worker has exited that the test did
// not stop or kill.
func (f *fleet) alive() {
	f.t.Helper()
	for _, w := range f.workers {
		if w.Exited() && !f.ended[w] {
			f.t.Fatalf("%s exited (status %d) while it should be working\nstderr:\n%s", w, w.ExitCode(), workertest.Tail(w.Stderr(), 30))
		}
	}
}

// stop stops each running worker with SIGTERM, and checks it exits 0 within
// its shutdown bound.
func (f *fleet) stop(workers ...*workertest.Proc) {
	f.t.Helper()
	if len(workers) == 0 {
		workers = f.workers
	}
	for _, w := range workers {
		if w.Exited() {
			continue
		}
		f.ended[w] = true
		if code := w.Stop(30 * time.Second); code != 0 {
			f.t.Errorf("%s: exit %d after SIGTERM, want 0\nstderr:\n%s", w, code, workertest.Tail(w.Stderr(), 20))
		}
	}
}

// kill kills a worker with SIGKILL, as a crash would.
func (f *fleet) kill(w *workertest.Proc) {
	f.ended[w] = true
	w.Kill()
}

// connections counts the connections to Redis of the worker named name.
func (f *fleet) connections(ctx context.Context, name string) (int, error) {
	list, err := f.rdb.ClientList(ctx).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range strings.Lines(list) {
		if strings.Contains(line, " name="+name+" ") {
			n++
		}
	}
	return n, nil
}

// waitDisconnected waits until Redis has closed every connection of the
// worker named name, which the test has killed: what the worker wrote to its
// sockets before it died has then run, or never will.
func (f *fleet) waitDisconnected(ctx context.Context, name string) {
	f.t.Helper()
	waitFor(ctx, f.t, "Redis to close the connections of "+name, func() (bool, string) {
		n, err := f.connections(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		return n == 0, fmt.Sprintf("%d connections named %s", n, name)
	})
}

// waitFor polls cond until it holds, failing the test with cond's last
// status when ctx ends first. A check that fails the test (fleet.alive)
// may be called inside cond.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, status := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %s", what, status)
		case <-tick.C:
		}
	}
}

// ritualHeader is the first line the séance's Scribe prints for a ritual.
var ritualHeader = regexp.MustCompile(`(?m)^Ritual (\d+) \(séance ([A-Za-z0-9_-]+)\) — `)

// waitRun waits until the workers have printed the omen of each of the n
// rituals of séance id and the group has nothing pending or undelivered.
func (f *fleet) waitRun(ctx context.Context, what, id string, n int, workers ...*workertest.Proc) {
	f.t.Helper()
	waitFor(ctx, f.t, what, func() (bool, string) {
		f.alive()
		done := countDone(omens(id, workers...), n)
		ok, st := drained(ctx, f.rdb, f.stream)
		return done == n && ok, fmt.Sprintf("%d/%d omens; group: %s", done, n, st)
	})
}

// omens counts the rituals of séance id that the workers printed, by
// ritual number.
func omens(id string, workers ...*workertest.Proc) map[int]int {
	out := make(map[int]int)
	for _, w := range workers {
		for n, c := range omensOf(w.Stdout(), id) {
			out[n] += c
		}
	}
	return out
}

func omensOf(stdout, id string) map[int]int {
	out := make(map[int]int)
	for _, m := range ritualHeader.FindAllStringSubmatch(stdout, -1) {
		if m[2] == id {
			n, _ := strconv.Atoi(m[1])
			out[n]++
		}
	}
	return out
}

// omenProblems checks that rituals 1 to n of a séance each printed one
// omen, or at least one when repeats are allowed, and none other did. It
// returns what is wrong, and how many omens were repeats.
func omenProblems(got map[int]int, n int, repeatsAllowed bool) (problems []string, repeats int) {
	var missing, repeated []int
	for i := 1; i <= n; i++ {
		switch c := got[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			repeated = append(repeated, i)
			repeats += c - 1
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d rituals printed no omen: %s", len(missing), ints(missing)))
	}
	if len(repeated) > 0 && !repeatsAllowed {
		problems = append(problems, fmt.Sprintf("%d rituals printed more than one omen: %s", len(repeated), ints(repeated)))
	}
	var stray []int
	for i := range got {
		if i < 1 || i > n {
			stray = append(stray, i)
		}
	}
	if len(stray) > 0 {
		sort.Ints(stray)
		problems = append(problems, fmt.Sprintf("omens of rituals that were never emitted: %s", ints(stray)))
	}
	return problems, repeats
}

// ints renders a list of numbers, cut after 20.
func ints(xs []int) string {
	s := make([]string, 0, min(len(xs), 21))
	for i, x := range xs {
		if i == 20 {
			s = append(s, fmt.Sprintf("… (%d more)", len(xs)-20))
			break
		}
		s = append(s, strconv.Itoa(x))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// countDone is how many of the numbers 1 to n have a count.
func countDone(got map[int]int, n int) int {
	done := 0
	for i := 1; i <= n; i++ {
		if got[i] > 0 {
			done++
		}
	}
	return done
}

// entry is a stream entry as the backend writes it: one field, "event",
// holding the event's wire form.
type entry struct {
	ID    string // the stream entry's id
	Event wireEvent
}

type wireEvent struct {
	ID      string          `json:"id"`
	Type    string          `json:"event_type"`
	Key     string          `json:"key"`
	Payload json.RawMessage `json:"payload"`
}

// readStream returns every entry of a stream, oldest first.
func readStream(ctx context.Context, rdb goredis.Cmdable, stream string) ([]entry, error) {
	var out []entry
	start := "-"
	for {
		msgs, err := rdb.XRangeN(ctx, stream, start, "+", 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("XRANGE %s: %w", stream, err)
		}
		for _, m := range msgs {
			e := entry{ID: m.ID}
			if s, ok := m.Values["event"].(string); ok {
				_ = json.Unmarshal([]byte(s), &e.Event)
			}
			out = append(out, e)
		}
		if len(msgs) < 1000 {
			return out, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// chainKey names the chain an event belongs to: "séance#number" for the
// séance, the job id for the ETL, "account#n" for the ledger.
func chainKey(e wireEvent) string {
	var p struct {
		Number int    `json:"number"`
		Seance string `json:"seance"`
		JobID  string `json:"job_id"`
		N      int    `json:"n"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	switch {
	case e.Key != "" && p.Number == 0:
		return e.Key + "#" + strconv.Itoa(p.N)
	case e.Type == "ETL_START":
		return e.ID
	case p.JobID != "":
		return p.JobID
	case p.Number > 0:
		return ritualKey(p.Seance, p.Number)
	}
	return ""
}

func ritualKey(seance string, n int) string { return seance + "#" + strconv.Itoa(n) }

// tally counts, for one chain and one event type, the distinct events and
// the stream entries holding them.
type tally struct {
	ids     map[string]bool
	entries int
}

// census counts the events of a stream by chain and type.
type census map[string]map[string]*tally

// takeCensus counts the events of a stream, leaving out the entries whose
// ids are in skip.
func takeCensus(ctx context.Context, t *testing.T, rdb goredis.Cmdable, stream string, skip ...string) census {
	t.Helper()
	entries, err := readStream(ctx, rdb, stream)
	if err != nil {
		t.Fatal(err)
	}
	return censusOf(entries, skip...)
}

// censusOf counts the events of entries, leaving out those whose ids are
// in skip.
func censusOf(entries []entry, skip ...string) census {
	c := make(census)
	for _, e := range entries {
		if slices.Contains(skip, e.ID) {
			continue
		}
		k := chainKey(e.Event)
		if c[k] == nil {
			c[k] = make(map[string]*tally)
		}
		tl := c[k][e.Event.Type]
		if tl == nil {
			tl = &tally{ids: make(map[string]bool)}
			c[k][e.Event.Type] = tl
		}
		tl.ids[e.Event.ID] = true
		tl.entries++
	}
	return c
}

// exactlyOnce checks that each chain holds exactly one event of each type,
// in exactly one stream entry unless entriesMayRepeat (an entry handed back
// at shutdown is re-added with the same event), and that no other chain is
// in the stream. It returns what is wrong.
func (c census) exactlyOnce(chains []string, types []string, entriesMayRepeat bool) []string {
	var problems []string
	want := make(map[string]bool, len(chains))
	for _, k := range chains {
		want[k] = true
		for _, typ := range types {
			tl := c[k][typ]
			switch {
			case tl == nil:
				problems = append(problems, fmt.Sprintf("%s: no %s", k, typ))
			case len(tl.ids) != 1:
				problems = append(problems, fmt.Sprintf("%s: %d distinct %s events, want 1", k, len(tl.ids), typ))
			case tl.entries != 1 && !entriesMayRepeat:
				problems = append(problems, fmt.Sprintf("%s: %s in %d entries, want 1", k, typ, tl.entries))
			}
		}
		for typ := range c[k] {
			if !slices.Contains(types, typ) {
				problems = append(problems, fmt.Sprintf("%s: unexpected %s", k, typ))
			}
		}
	}
	for k := range c {
		if !want[k] {
			problems = append(problems, fmt.Sprintf("unexpected chain %q in the stream", k))
		}
	}
	sort.Strings(problems)
	return problems
}

// reportProblems fails t with at most 20 of the problems.
func reportProblems(t *testing.T, what string, problems []string) {
	t.Helper()
	if len(problems) == 0 {
		return
	}
	shown := problems[:min(len(problems), 20)]
	t.Errorf("%s: %d problems:\n  %s", what, len(problems), strings.Join(shown, "\n  "))
}

func ritualKeys(seance string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = ritualKey(seance, i+1)
	}
	return keys
}

// groupState is what Redis says about the group: entries delivered and not
// acknowledged (in total and per consumer), and entries not yet delivered.
type groupState struct {
	pending    int64
	byConsumer map[string]int64
	lag        int64 // -1 when Redis cannot tell
}

func (g groupState) String() string {
	return fmt.Sprintf("%d pending %v, lag %d", g.pending, g.byConsumer, g.lag)
}

func stateOf(ctx context.Context, rdb *goredis.Client, stream string) (groupState, error) {
	st := groupState{lag: -1}
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return st, fmt.Errorf("XINFO GROUPS %s: %w", stream, err)
	}
	found := false
	for _, g := range groups {
		if g.Name == group {
			found, st.lag = true, g.Lag
		}
	}
	if !found {
		return st, fmt.Errorf("no group %q on %s", group, stream)
	}
	p, err := rdb.XPending(ctx, stream, group).Result()
	if err != nil {
		return st, fmt.Errorf("XPENDING %s: %w", stream, err)
	}
	st.pending, st.byConsumer = p.Count, p.Consumers
	return st, nil
}

// drained reports whether the group has nothing pending and nothing left to
// deliver.
func drained(ctx context.Context, rdb *goredis.Client, stream string) (bool, string) {
	st, err := stateOf(ctx, rdb, stream)
	if err != nil {
		return false, err.Error()
	}
	return st.pending == 0 && st.lag == 0, st.String()
}

// checkDrained fails t unless the group is drained.
func checkDrained(ctx context.Context, t *testing.T, rdb *goredis.Client, stream string) {
	t.Helper()
	if ok, status := drained(ctx, rdb, stream); !ok {
		t.Errorf("group %s on %s: %s; want nothing pending, lag 0", group, stream, status)
	}
}

// deadLetter is an entry of the dead-letter stream.
type deadLetter struct {
	ID, Organ, Reason, Error, Time, EntryID string
	Attempts                                int
	Event                                   string
}

func deadLetters(ctx context.Context, t *testing.T, rdb *goredis.Client, stream string) []deadLetter {
	t.Helper()
	msgs, err := rdb.XRange(ctx, stream+":dlq", "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE %s:dlq: %v", stream, err)
	}
	out := make([]deadLetter, len(msgs))
	for i, m := range msgs {
		s := func(k string) string { v, _ := m.Values[k].(string); return v }
		out[i] = deadLetter{ID: m.ID, Organ: s("organ"), Reason: s("reason"), Error: s("error"), Time: s("time"),
			EntryID: s("entry_id"), Event: s("event")}
		out[i].Attempts, _ = strconv.Atoi(s("attempts"))
	}
	return out
}

func dlqLen(ctx context.Context, t *testing.T, rdb *goredis.Client, stream string) int64 {
	t.Helper()
	n, err := rdb.XLen(ctx, stream+":dlq").Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		t.Fatalf("XLEN %s:dlq: %v", stream, err)
	}
	return n
}

// logLines returns the JSON log lines of a worker's stderr whose msg
// contains substr, decoded.
func logLines(stderr, substr string) []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(stderr, "\n") {
		if !strings.Contains(line, substr) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if msg, _ := m["msg"].(string); strings.Contains(msg, substr) {
			out = append(out, m)
		}
	}
	return out
}
