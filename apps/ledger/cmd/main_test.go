package main

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/necrostack/necrostack/backends/redis/redistest"
	"github.com/necrostack/necrostack/worker"
	"github.com/necrostack/necrostack/worker/workertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func run(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errs workertest.Buffer
	code = worker.Run(ctx, app(), args, func(string) string { return "" }, &out, &errs)
	return code, out.String(), errs.String()
}

// Bad flags are refused, naming the flag.
func TestFlags(t *testing.T) {
	for args, want := range map[string]string{
		"-mode emit -accounts 0":      "-accounts 0: must be 1 to 100000",
		"-mode emit -entries 20000":   "-entries 20000: must be 1 to 10000",
		"-mode worker -delay -1s":     "-delay: must not be negative",
		"-mode worker -accounts 3":    "-accounts: not used by -mode worker",
		"-mode redrive":               "-mode redrive: the ledger emits or works",
		"-mode emit -transfers=maybe": "invalid boolean value",
	} {
		code, _, stderr := run(context.Background(), strings.Fields(args)...)
		if code != worker.ExitUsage || !strings.Contains(stderr, want) {
			t.Errorf("ledger %s: exit %d, stderr %q; want exit %d saying %q", args, code, stderr, worker.ExitUsage, want)
		}
	}
}

// Two ordered workers on four partitions post every account's entries, and
// transfers' entries, in order.
func TestOrderedWorkers(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := []string{"-redis-url", srv.URL(), "-partitions", "4"}
	if code, out, stderr := run(ctx, append(base, "-mode", "emit", "-accounts", "8", "-entries", "25")...); code != 0 || !strings.Contains(out, "enqueued 200 events") {
		t.Fatalf("emit: exit %d, %q, %s", code, out, stderr)
	}
	if code, _, stderr := run(ctx, append(base, "-mode", "emit", "-accounts", "8", "-entries", "5", "-transfers")...); code != 0 {
		t.Fatalf("emit transfers: exit %d, %s", code, stderr)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan int, 2)
	for i := range 2 {
		go func() {
			code, _, _ := run(wctx, append(base, "-mode", "worker", "-ordered", "-lease-ttl", "3s", "-concurrency", "4",
				"-consumer", "w"+strconv.Itoa(i), "-delay", "1ms")...)
			done <- code
		}()
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	journal := func(account string) []string {
		got, _ := rdb.LRange(ctx, "ledger:events:journal:"+account, 0, -1).Result()
		return got
	}
	for i := range 8 {
		for _, acct := range []string{Account(i), "in-" + Account(i)} {
			n := 30
			if strings.HasPrefix(acct, "in-") {
				n = 5
			}
			for len(journal(acct)) < n && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			var want []string
			for k := range n {
				want = append(want, strconv.Itoa(k%25))
			}
			if acct == Account(i) {
				want = append(want[:25:25], "0", "1", "2", "3", "4")
			}
			if got := journal(acct); !slices.Equal(got, want) {
				t.Errorf("%s's journal: %v, want %v", acct, got, want)
			}
		}
	}
	stop()
	for range 2 {
		if code := <-done; code != worker.ExitOK {
			t.Errorf("worker exit %d", code)
		}
	}
}
