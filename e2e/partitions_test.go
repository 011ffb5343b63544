package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/e2e/redisenv"
	"github.com/necrostack/necrostack/worker/workertest"
)

// clusterFleet is an app's workers on a partitioned stream of a Redis
// Cluster, and what the test reads of the cluster, summed over the
// partitions.
type clusterFleet struct {
	t          *testing.T
	app, bin   string
	c          *redisenv.Cluster
	rdb        *goredis.ClusterClient
	stream     string
	partitions int
	workers    []*workertest.Proc
	ended      map[*workertest.Proc]bool
}

func newClusterFleet(t *testing.T, app string, c *redisenv.Cluster, stream string, partitions int) *clusterFleet {
	t.Helper()
	return &clusterFleet{t: t, app: app, bin: appBinary(t, app), c: c, rdb: c.Client(), stream: stream, partitions: partitions,
		ended: map[*workertest.Proc]bool{}}
}

func (f *clusterFleet) args(mode string, extra ...string) []string {
	return append([]string{"-backend", "redis", "-mode", mode, "-redis-url", f.c.URL(), "-stream", f.stream,
		"-partitions", strconv.Itoa(f.partitions)}, extra...)
}

// run runs the app in mode to completion and returns its stdout; anything
// but exit 0 fails the test.
func (f *clusterFleet) run(ctx context.Context, mode string, extra ...string) string {
	f.t.Helper()
	stdout, stderr, code := workertest.Run(ctx, f.t, f.app+" "+mode, f.bin, f.args(mode, extra...)...)
	if code != 0 {
		f.t.Fatalf("%s -mode %s %v: exit %d\nstdout:\n%s\nstderr:\n%s", f.app, mode, extra, code, stdout, workertest.Tail(stderr, 30))
	}
	return stdout
}

// worker starts a worker whose consumer name is name.
func (f *clusterFleet) worker(name string, extra ...string) *workertest.Proc {
	f.t.Helper()
	p := workertest.Start(f.t, f.app+" worker "+name, f.bin, f.args("worker", append([]string{"-consumer", name, "-log-level", "info"}, extra...)...)...)
	f.workers = append(f.workers, p)
	return p
}

// alive fails the test at once if a worker has exited that the test did
// not stop or kill.
func (f *clusterFleet) alive() {
	f.t.Helper()
	for _, w := range f.workers {
		if w.Exited() && !f.ended[w] {
			f.t.Fatalf("%s exited (status %d) while it should be working\nstderr:\n%s", w, w.ExitCode(), workertest.Tail(w.Stderr(), 30))
		}
	}
}

func (f *clusterFleet) kill(w *workertest.Proc) {
	f.ended[w] = true
	w.Kill()
}

// stop stops the running workers with SIGTERM; each must exit 0.
func (f *clusterFleet) stop() {
	f.t.Helper()
	for _, w := range f.workers {
		if w.Exited() {
			continue
		}
		f.ended[w] = true
		if code := w.Stop(30 * time.Second); code != 0 {
			f.t.Errorf("%s: exit %d after SIGTERM, want 0\nstderr:\n%s", w, code, workertest.Tail(w.Stderr(), 20))
		}
	}
}

func (f *clusterFleet) part(i int) string { return nsredis.PartitionStream(f.stream, i, f.partitions) }

// state sums the partitions: entries, dead letters, and the group's
// pending and undelivered entries.
func (f *clusterFleet) state(ctx context.Context) (entries, deadLetters, pending, lag int64, err error) {
	for i := range f.partitions {
		s := f.part(i)
		n, err := f.rdb.XLen(ctx, s).Result()
		if err != nil {
			return 0, 0, 0, 0, err
		}
		entries += n
		if n, err = f.rdb.XLen(ctx, s+":dlq").Result(); err != nil {
			return 0, 0, 0, 0, err
		}
		deadLetters += n
		groups, err := f.rdb.XInfoGroups(ctx, s).Result()
		if err != nil {
			return 0, 0, 0, 0, err
		}
		for _, g := range groups {
			pending += g.Pending
			lag += g.Lag
		}
	}
	return entries, deadLetters, pending, lag, nil
}

// waitSettled waits until the partitions hold want entries, with nothing
// pending or undelivered, every worker alive.
func (f *clusterFleet) waitSettled(ctx context.Context, want int64) {
	f.t.Helper()
	waitFor(ctx, f.t, fmt.Sprintf("%d entries, nothing pending", want), func() (bool, string) {
		f.alive()
		n, dls, pending, lag, err := f.state(ctx)
		return err == nil && n == want && pending == 0 && lag == 0,
			fmt.Sprintf("%d entries, %d dead letters, %d pending, %d undelivered (%v)", n, dls, pending, lag, err)
	})
}

// waitEntries waits until the partitions hold at least n entries.
func (f *clusterFleet) waitEntries(ctx context.Context, n int64) {
	f.t.Helper()
	waitFor(ctx, f.t, fmt.Sprintf("%d entries", n), func() (bool, string) {
		f.alive()
		got, _, _, _, err := f.state(ctx)
		return err == nil && got >= n, fmt.Sprintf("%d entries (%v)", got, err)
	})
}

// census counts the events of every partition.
func (f *clusterFleet) census(ctx context.Context) census {
	f.t.Helper()
	var all []entry
	for i := range f.partitions {
		es, err := readStream(ctx, f.rdb, f.part(i))
		if err != nil {
			f.t.Fatal(err)
		}
		all = append(all, es...)
	}
	return censusOf(all)
}

// owners returns each partition's owner in ordered mode ("" for none).
func (f *clusterFleet) owners(ctx context.Context) []string {
	out := make([]string, f.partitions)
	for i := range out {
		out[i], _ = f.rdb.HGet(ctx, f.part(i)+":owner", "owner").Result()
	}
	return out
}

// ledgerChains names the chains of accounts × entries.
func ledgerChains(prefix string, accounts, entries int) []string {
	var out []string
	for i := range accounts {
		for n := range entries {
			out = append(out, prefix+strconv.Itoa(i)+"#"+strconv.Itoa(n))
		}
	}
	return out
}

// journalProblems reads each account's journal: it must be 0..entries-1,
// each number once except that a number may come again right after itself
// (handled at least once: a worker killed after posting, before its
// commit). It returns what is wrong and how many numbers came again.
func (f *clusterFleet) journalProblems(ctx context.Context, prefix string, accounts, entries int) (problems []string, repeats int) {
	for i := range accounts {
		account := prefix + strconv.Itoa(i)
		lines, err := f.rdb.LRange(ctx, f.stream+":journal:"+account, 0, -1).Result()
		if err != nil {
			return []string{err.Error()}, 0
		}
		if p, r := journalOrder(lines, entries); p != "" {
			problems = append(problems, account+": "+p)
		} else {
			repeats += r
		}
	}
	sort.Strings(problems)
	return problems, repeats
}

// journalOrder checks one journal (see journalProblems): what is wrong,
// "" if nothing, and how many numbers came again.
func journalOrder(lines []string, entries int) (problem string, repeats int) {
	next := 0
	for _, l := range lines {
		switch n, _ := strconv.Atoi(l); n {
		case next:
			next++
		case next - 1:
			repeats++
		default:
			return fmt.Sprintf("journal %v: %d out of order", lines, n), repeats
		}
	}
	if next != entries {
		return fmt.Sprintf("journal %v, want 0..%d", lines, entries-1), repeats
	}
	return "", repeats
}

// The ordered scenario: 1,000 accounts × 20 entries on 16
// partitions of a three-master cluster, three ordered workers at
// Concurrency 8; one is SIGKILLed a quarter of the way through and
// another joins. Every account's entries are posted in order (from the
// ledger's own journal), each entry's POSTED is in the streams once,
// nothing is pending, nothing dead-lettered.
func TestOrderedLedgerWorkerKilledAndJoined(t *testing.T) {
	ctx := scenario(t, 4*time.Minute)
	c := redisenv.StartCluster(t, 3, 0)
	f := newClusterFleet(t, "ledger", c, "ledger:ordered", 16)
	const accounts, entries = 1000, 20
	ordered := []string{"-ordered", "-lease-ttl", "3s", "-concurrency", "8", "-delay", "5ms"}
	f.worker("w1", ordered...)
	w2 := f.worker("w2", ordered...)
	f.worker("w3", ordered...)
	out := f.run(ctx, "emit", "-accounts", strconv.Itoa(accounts), "-entries", strconv.Itoa(entries))
	if want := fmt.Sprintf("enqueued %d events to ledger:ordered (16 partitions)", accounts*entries); strings.TrimSpace(out) != want {
		t.Fatalf("emit printed %q, want %q", out, want)
	}
	f.waitEntries(ctx, accounts*entries*5/4) // a quarter posted
	f.kill(w2)
	start := time.Now()
	f.worker("w4", ordered...)
	f.waitSettled(ctx, 2*accounts*entries)
	t.Logf("settled %v after w2 was killed", time.Since(start).Round(time.Millisecond))
	f.stop()

	reportProblems(t, "census", f.census(ctx).exactlyOnce(ledgerChains("acct-", accounts, entries), []string{"ENTRY", "POSTED"}, false))
	problems, repeats := f.journalProblems(ctx, "acct-", accounts, entries)
	reportProblems(t, "journals", problems)
	t.Logf("%d accounts × %d entries posted in order; %d posted again after the kill (at least once)", accounts, entries, repeats)
	if _, dls, _, _, _ := f.state(ctx); dls != 0 {
		t.Errorf("%d dead letters, want 0", dls)
	}
	for _, w := range f.workers {
		if w == w2 {
			continue
		}
		if lines := logLines(w.Stderr(), "claimed entries pending from the partition's earlier owners"); len(lines) > 0 {
			t.Logf("%s claimed what w2 held in %d partitions", w.Name(), len(lines))
		}
	}
}

// A fenced zombie: a worker SIGSTOPped with events in flight, past its
// lease; the other takes its partitions over; SIGCONTed, the zombie's
// late commits write nothing, and every entry's POSTED is in the streams
// once.
func TestOrderedZombieFenced(t *testing.T) {
	ctx := scenario(t, 4*time.Minute)
	c := redisenv.StartCluster(t, 3, 0)
	f := newClusterFleet(t, "ledger", c, "ledger:zombie", 16)
	const accounts, entries = 200, 20
	ordered := []string{"-ordered", "-lease-ttl", "3s", "-concurrency", "8", "-delay", "20ms"}
	zombie := f.worker("zombie", ordered...)
	f.worker("live", ordered...)
	f.run(ctx, "emit", "-accounts", strconv.Itoa(accounts), "-entries", strconv.Itoa(entries))
	waitFor(ctx, t, "both workers own partitions, a tenth posted", func() (bool, string) {
		owners := f.owners(ctx)
		n, _, _, _, _ := f.state(ctx)
		return slices.Contains(owners, "zombie") && slices.Contains(owners, "live") && n >= accounts*entries*11/10,
			fmt.Sprintf("owners %v, %d entries", owners, n)
	})
	if err := zombie.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitFor(ctx, t, "the live worker owns every partition", func() (bool, string) {
		owners := f.owners(ctx)
		for _, o := range owners {
			if o != "live" {
				return false, fmt.Sprint(owners)
			}
		}
		return true, ""
	})
	t.Logf("partitions taken over %v after SIGSTOP", time.Since(stopped).Round(time.Millisecond))
	if err := zombie.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	f.waitSettled(ctx, 2*accounts*entries)
	f.stop()

	reportProblems(t, "census", f.census(ctx).exactlyOnce(ledgerChains("acct-", accounts, entries), []string{"ENTRY", "POSTED"}, false))
	fenced := 0
	for _, l := range logLines(zombie.Stderr(), "commit") {
		if e, _ := l["error"].(string); strings.Contains(e, "fenced") {
			fenced++
		}
	}
	if fenced == 0 {
		t.Errorf("the zombie logged no fenced commit; stderr:\n%s", workertest.Tail(zombie.Stderr(), 30))
	}
	problems, repeats := f.journalProblems(ctx, "acct-", accounts, entries)
	t.Logf("the zombie's %d late commits wrote nothing; %d journal lines repeated, %d out of order (the organ's own writes, which fencing does not cover)",
		fenced, repeats, len(problems))
}

// Shared mode: the séance's rituals over 16 partitions of the cluster with
// three workers: each stage of each ritual once, nothing pending.
func TestSharedSeanceOnACluster(t *testing.T) {
	ctx := scenario(t, 3*time.Minute)
	c := redisenv.StartCluster(t, 3, 0)
	f := newClusterFleet(t, "seance", c, "seance:shared", 16)
	const rituals = 300
	for _, name := range []string{"m1", "m2", "m3"} {
		f.worker(name, "-concurrency", "4")
	}
	out := f.run(ctx, "emit", "-seance", "shared", "-rituals", strconv.Itoa(rituals))
	if !strings.Contains(out, "enqueued 300 rituals (séance shared)") {
		t.Fatalf("emit printed %q", out)
	}
	f.waitSettled(ctx, rituals*int64(len(seanceTypes)))
	f.stop()
	reportProblems(t, "census", f.census(ctx).exactlyOnce(ritualKeys("shared", rituals), seanceTypes, false))
	spread := map[string]int{}
	for _, w := range f.workers {
		spread[w.Name()] = countDone(omensOf(w.Stdout(), "shared"), rituals)
	}
	t.Logf("omens printed per worker: %v", spread)
}

// Cross-partition emits with their relays killed: every entry is a
// transfer to another account, whose entry the transfer makes, mostly in
// another partition, through the outbox. Two of the three workers, which
// relay the outboxes, are SIGKILLed mid-run (another joins after each):
// every transfer and every entry it made is in the streams once, each
// account's journal in order, nothing left in the outboxes.
func TestTransfersWithRelaysKilled(t *testing.T) {
	ctx := scenario(t, 4*time.Minute)
	c := redisenv.StartCluster(t, 3, 0)
	f := newClusterFleet(t, "ledger", c, "ledger:transfers", 16)
	const accounts, entries = 300, 10
	ordered := []string{"-ordered", "-lease-ttl", "3s", "-concurrency", "8", "-delay", "5ms"}
	w1 := f.worker("w1", ordered...)
	w2 := f.worker("w2", ordered...)
	f.worker("w3", ordered...)
	f.run(ctx, "emit", "-accounts", strconv.Itoa(accounts), "-entries", strconv.Itoa(entries), "-transfers")
	total := int64(4 * accounts * entries) // TRANSFER, its POSTED, the ENTRY it made, that one's POSTED
	f.waitEntries(ctx, total/3)
	f.kill(w1)
	f.worker("w4", ordered...)
	f.waitEntries(ctx, total*2/3)
	f.kill(w2)
	f.worker("w5", ordered...)
	f.waitSettled(ctx, total)
	waitFor(ctx, t, "the outboxes empty", func() (bool, string) {
		var left int64
		for i := range f.partitions {
			n, _ := f.rdb.XLen(ctx, f.part(i)+":outbox").Result()
			left += n
		}
		return left == 0, fmt.Sprintf("%d entries in the outboxes", left)
	})
	f.stop()

	cen := f.census(ctx)
	var problems []string
	problems = append(problems, onlyChains(cen, ledgerChains("acct-", accounts, entries), ledgerChains("in-acct-", accounts, entries))...)
	for _, k := range ledgerChains("acct-", accounts, entries) {
		problems = append(problems, cen.once(k, "TRANSFER", "POSTED")...)
	}
	moved := 0
	for i := range accounts {
		if nsredis.PartitionOf("acct-"+strconv.Itoa(i), 16) != nsredis.PartitionOf("in-acct-"+strconv.Itoa(i), 16) {
			moved++
		}
	}
	for _, k := range ledgerChains("in-acct-", accounts, entries) {
		problems = append(problems, cen.once(k, "ENTRY", "POSTED")...)
	}
	reportProblems(t, "census", problems)
	for _, prefix := range []string{"acct-", "in-acct-"} {
		jp, repeats := f.journalProblems(ctx, prefix, accounts, entries)
		reportProblems(t, prefix+" journals", jp)
		t.Logf("%s journals in order, %d posted again after a kill", prefix, repeats)
	}
	t.Logf("%d of %d accounts' transfers crossed partitions through the outbox", moved, accounts)
}

// once returns what is wrong with chain k holding exactly one event of
// each of types, each in one entry, and nothing else.
func (c census) once(k string, types ...string) []string {
	var problems []string
	for _, typ := range types {
		tl := c[k][typ]
		switch {
		case tl == nil:
			problems = append(problems, fmt.Sprintf("%s: no %s", k, typ))
		case len(tl.ids) != 1 || tl.entries != 1:
			problems = append(problems, fmt.Sprintf("%s: %d %s events in %d entries, want 1", k, len(tl.ids), typ, tl.entries))
		}
	}
	for typ := range c[k] {
		if !slices.Contains(types, typ) {
			problems = append(problems, fmt.Sprintf("%s: unexpected %s", k, typ))
		}
	}
	return problems
}

// onlyChains returns a problem for each chain in c that is in none of
// lists.
func onlyChains(c census, lists ...[]string) []string {
	want := map[string]bool{}
	for _, l := range lists {
		for _, k := range l {
			want[k] = true
		}
	}
	var problems []string
	for k := range c {
		if !want[k] {
			problems = append(problems, fmt.Sprintf("unexpected chain %q", k))
		}
	}
	return problems
}

// A master SIGKILLed under load on a cluster of three masters with a
// replica each; its replica is promoted, and the killed node comes back
// as a replica. With -wait-replicas 1, every commit and enqueue is on a
// replica when it returns: every entry and its POSTED once, nothing lost,
// nothing emitted twice. Without it, the same run reports what the
// failover lost: what the master had acknowledged and the replica had not
// received when it died.
func TestMasterKilledUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait []string
	}{
		{"WaitReplicas 1", []string{"-wait-replicas", "1"}},
		{"no WaitReplicas", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := scenario(t, 4*time.Minute)
			c := redisenv.StartCluster(t, 3, 1)
			f := newClusterFleet(t, "ledger", c, "ledger:failover", 16)
			const accounts, entries = 300, 20
			ordered := append([]string{"-ordered", "-lease-ttl", "3s", "-concurrency", "8", "-delay", "5ms"}, tc.wait...)
			for _, name := range []string{"w1", "w2", "w3"} {
				f.worker(name, ordered...)
			}
			f.run(ctx, "emit", append([]string{"-accounts", strconv.Itoa(accounts), "-entries", strconv.Itoa(entries)}, tc.wait...)...)
			f.waitEntries(ctx, accounts*entries*5/4)
			c.Masters[0].Kill()
			killed := time.Now()
			waitFor(ctx, t, "the replica promoted", func() (bool, string) {
				info, err := c.Replicas[0].Client().Info(ctx, "replication").Result()
				return err == nil && strings.Contains(info, "role:master"), fmt.Sprint(err)
			})
			t.Logf("replica promoted %v after the kill", time.Since(killed).Round(time.Millisecond))
			c.Masters[0].Start() // back as the new master's replica (WAIT 1 needs one)
			var want int64 = 2 * accounts * entries
			lost := 0
			if tc.wait != nil {
				f.waitSettled(ctx, want)
			} else {
				// What is lost is not handled: settle on what is there.
				waitFor(ctx, t, "nothing pending or undelivered", func() (bool, string) {
					f.alive()
					n, _, pending, lag, err := f.state(ctx)
					return err == nil && pending == 0 && lag == 0 && n%2 == 0 && n > 0, fmt.Sprintf("%d entries, %d pending, %d undelivered", n, pending, lag)
				})
			}
			t.Logf("settled %v after the kill", time.Since(killed).Round(time.Millisecond))
			f.stop()
			cen := f.census(ctx)
			var problems []string
			problems = append(problems, onlyChains(cen, ledgerChains("acct-", accounts, entries))...)
			for _, k := range ledgerChains("acct-", accounts, entries) {
				if tc.wait == nil && cen[k] == nil {
					lost++ // the enqueue acknowledged, then lost with the master
					continue
				}
				problems = append(problems, cen.once(k, "ENTRY", "POSTED")...)
			}
			reportProblems(t, "census", problems)
			t.Logf("%d of %d entries lost with the master", lost, accounts*entries)
			if _, dls, _, _, _ := f.state(ctx); dls != 0 {
				t.Errorf("%d dead letters, want 0", dls)
			}
			if tc.wait != nil {
				jp, repeats := f.journalProblems(ctx, "acct-", accounts, entries)
				reportProblems(t, "journals", jp)
				t.Logf("journals in order; %d posted again after the failover", repeats)
			}
		})
	}
}

// Resharding under load: the slots of four partitions are migrated, key
// by key, to another master while three ordered workers post entries
// (MIGRATING and IMPORTING, MIGRATE, then SETSLOT NODE, as redis-cli
// --cluster reshard does). Every entry is posted once, in order, nothing
// is pending, no worker is stuck.
func TestReshardingUnderLoad(t *testing.T) {
	ctx := scenario(t, 4*time.Minute)
	c := redisenv.StartCluster(t, 3, 0)
	f := newClusterFleet(t, "ledger", c, "ledger:reshard", 16)
	const accounts, entries = 1000, 20
	ordered := []string{"-ordered", "-lease-ttl", "3s", "-concurrency", "8", "-delay", "5ms"}
	for _, name := range []string{"w1", "w2", "w3"} {
		f.worker(name, ordered...)
	}
	f.run(ctx, "emit", "-accounts", strconv.Itoa(accounts), "-entries", strconv.Itoa(entries))
	f.waitEntries(ctx, accounts*entries*9/8)
	start := time.Now()
	moved := 0
	for _, i := range []int{0, 5, 10, 15} {
		slot, err := f.rdb.ClusterKeySlot(ctx, f.part(i)).Result()
		if err != nil {
			t.Fatal(err)
		}
		keys, err := migrateSlot(ctx, c, int(slot))
		if err != nil {
			t.Fatalf("migrate slot %d (partition %d): %v", slot, i, err)
		}
		moved += keys
	}
	t.Logf("4 partitions' slots migrated (%d keys) in %v", moved, time.Since(start).Round(time.Millisecond))
	f.waitSettled(ctx, 2*accounts*entries)
	t.Logf("settled %v after the migrations began", time.Since(start).Round(time.Millisecond))
	f.stop()
	reportProblems(t, "census", f.census(ctx).exactlyOnce(ledgerChains("acct-", accounts, entries), []string{"ENTRY", "POSTED"}, false))
	problems, repeats := f.journalProblems(ctx, "acct-", accounts, entries)
	reportProblems(t, "journals", problems)
	t.Logf("journals in order; %d posted again", repeats)
	if _, dls, _, _, _ := f.state(ctx); dls != 0 {
		t.Errorf("%d dead letters, want 0", dls)
	}
	redirected := map[string]int{}
	for _, w := range f.workers {
		for line := range strings.Lines(w.Stderr()) {
			for _, e := range []string{"TRYAGAIN", "ASK", "MOVED", "CLUSTERDOWN"} {
				if strings.Contains(line, e) {
					redirected[e]++
				}
			}
		}
	}
	t.Logf("worker log lines naming a migration's replies: %v", redirected)
}

// migrateSlot moves slot from the master that holds it to the next master,
// a few keys at a time, and returns how many keys moved.
func migrateSlot(ctx context.Context, c *redisenv.Cluster, slot int) (int, error) {
	admin := func(r *redisenv.Redis) *goredis.Client { return r.Client() }
	var src, dst *redisenv.Redis
	for k, m := range c.Masters {
		n, err := admin(m).ClusterCountKeysInSlot(ctx, slot).Result()
		if err != nil {
			return 0, err
		}
		if n > 0 {
			src, dst = m, c.Masters[(k+1)%len(c.Masters)]
		}
	}
	if src == nil {
		return 0, fmt.Errorf("no master holds keys of slot %d", slot)
	}
	s, d := admin(src), admin(dst)
	srcID, err := s.ClusterMyID(ctx).Result()
	if err != nil {
		return 0, err
	}
	dstID, err := d.ClusterMyID(ctx).Result()
	if err != nil {
		return 0, err
	}
	if err := d.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err(); err != nil {
		return 0, err
	}
	if err := s.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err(); err != nil {
		return 0, err
	}
	host, port, _ := strings.Cut(dst.Addr(), ":")
	moved := 0
	for {
		keys, err := s.ClusterGetKeysInSlot(ctx, slot, 2).Result()
		if err != nil {
			return moved, err
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := s.Do(ctx, args...).Err(); err != nil {
			return moved, fmt.Errorf("MIGRATE %v: %w", keys, err)
		}
		moved += len(keys)
		time.Sleep(100 * time.Millisecond) // under load, with the slot split between two nodes
	}
	for _, m := range c.Masters {
		if err := admin(m).Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err(); err != nil {
			return moved, err
		}
	}
	return moved, nil
}
