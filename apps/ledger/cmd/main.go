// Command ledger posts accounts' entries in order, as a worker process
// (package github.com/necrostack/necrostack/worker documents its modes,
// generic flags and NECROSTACK_* variables; here -stream ledger:events).
// Run its workers with -ordered (and -partitions) to have each account's
// entries posted in the order they were made, however many workers and
// events at once; its journal is in Redis, a list per account
// (<stream>:journal:<account>), so that anyone can check the order.
//
// -mode emit makes -entries entries for each of -accounts accounts, entry
// 0 of every account first, then entry 1, and so on; with -transfers each
// entry is a transfer to the next account instead, whose own entry then
// comes from the transfer (across partitions).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/apps/ledger/organs"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/worker"
)

func main() { worker.Main(app()) }

type ledger struct {
	accounts, entries int
	transfers         bool
	delay             time.Duration
}

var (
	seeding  = []worker.Mode{worker.ModeEmit}
	handling = []worker.Mode{worker.ModeWorker}
)

func app() worker.App {
	l := &ledger{}
	return worker.App{
		Name: "ledger", Summary: "Posts each account's entries in order, on a partitioned Redis stream.",
		Stream: "ledger:events", Backend: worker.BackendRedis, LogLevel: slog.LevelWarn,
		Flags: l.flags, Check: l.check, Seeds: l.seeds, Organs: l.organs, Spine: retryJournal,
		FlagModes: map[string][]worker.Mode{"accounts": seeding, "entries": seeding, "transfers": seeding, "delay": handling},
	}
}

func (l *ledger) flags(fs *flag.FlagSet) {
	fs.IntVar(&l.accounts, "accounts", 10, "`number` of accounts (acct-0, acct-1, ...)")
	fs.IntVar(&l.entries, "entries", 10, "`number` of entries of each account")
	fs.BoolVar(&l.transfers, "transfers", false, "make each entry a transfer to the next account, whose entry the transfer makes")
	fs.DurationVar(&l.delay, "delay", 0, "how long posting an entry takes (`duration`), as a database call would")
}

func (l *ledger) check(p *worker.Process) error {
	switch {
	case p.Mode != worker.ModeEmit && p.Mode != worker.ModeWorker:
		return fmt.Errorf("-mode %s: the ledger emits or works", p.Mode)
	case l.accounts < 1 || l.accounts > 100_000:
		return fmt.Errorf("-accounts %d: must be 1 to 100000", l.accounts)
	case l.entries < 1 || l.entries > 10_000:
		return fmt.Errorf("-entries %d: must be 1 to 10000", l.entries)
	case l.delay < 0:
		return errors.New("-delay: must not be negative")
	}
	return nil
}

// Account returns the name of account i.
func Account(i int) string { return "acct-" + strconv.Itoa(i) }

// seeds makes entry 0 of every account, then entry 1, ...; with
// -transfers, entry n of account i is a transfer to account i+1 (its entry
// n), so that account i+1's own entries come from account i's transfers.
func (l *ledger) seeds(*worker.Process) ([]core.Event, error) {
	out := make([]core.Event, 0, l.accounts*l.entries)
	for n := range l.entries {
		for i := range l.accounts {
			var e core.Event
			var err error
			if l.transfers {
				e, err = organs.NewTransfer(Account(i), n, "in-"+Account(i), n, 1)
			} else {
				e, err = organs.NewEntry(Account(i), n, 1)
			}
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *ledger) organs(p *worker.Process) ([]core.Organ, error) {
	b := p.Redis()
	if b == nil {
		return nil, errors.New("the ledger's journal is in Redis: -backend redis")
	}
	j := &redisJournal{prefix: p.Stream + ":journal:", rdb: b.Client()}
	return []core.Organ{organs.Poster{Journal: j, Delay: l.delay}, organs.Auditor{}}, nil
}

// retryJournal gives the Poster's journal writes the time a Redis
// failover takes (a few seconds) before an entry is dead-lettered: about
// 25 s of retries, instead of the Spine's default three attempts.
func retryJournal(_ *worker.Process, cfg *core.Config) {
	cfg.Retry = core.RetryPolicy{MaxAttempts: 30, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}
}

// redisJournal keeps each account's journal in a Redis list.
type redisJournal struct {
	prefix string
	rdb    goredis.UniversalClient
}

func (j *redisJournal) Append(ctx context.Context, account string, n int) error {
	return j.rdb.RPush(ctx, j.prefix+account, n).Err()
}
