// Package organs is the ledger: each account's entries posted in the order
// they were made, which is what ordered mode gives (see
// backends/redis.NewOrdered). An ENTRY event carries its account as its
// partition key and its number in the account's sequence; the Poster
// appends the number to the account's journal and emits POSTED, which the
// Auditor takes. A TRANSFER moves an amount to another account: its
// Poster emits the ENTRY of the other account, keyed to that account, so
// that on a partitioned stream it goes to another partition.
package organs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/necrostack/necrostack/core"
)

// The ledger's event types.
const (
	Entry    = "ENTRY"
	Posted   = "POSTED"
	Transfer = "TRANSFER"
)

// Line is the payload of an ENTRY, a POSTED or a TRANSFER: its number in
// its account's sequence, the amount, and for a TRANSFER the account that
// receives it (To) and the number of the ENTRY made there (ToN).
type Line struct {
	N      int    `json:"n"`
	Amount int    `json:"amount"`
	To     string `json:"to,omitempty"`
	ToN    int    `json:"to_n,omitempty"`
}

// NewEntry returns entry n of account.
func NewEntry(account string, n, amount int) (core.Event, error) {
	return core.Build(core.EventInit{Type: Entry, Key: account, Payload: Line{N: n, Amount: amount}})
}

// NewTransfer returns the transfer of amount from account (its entry n) to
// the account to (its entry toN).
func NewTransfer(account string, n int, to string, toN, amount int) (core.Event, error) {
	return core.Build(core.EventInit{Type: Transfer, Key: account, Payload: Line{N: n, Amount: amount, To: to, ToN: toN}})
}

// Journal is where the Poster writes: each account's posted numbers, in the
// order posted.
type Journal interface {
	Append(ctx context.Context, account string, n int) error
}

// MemoryJournal is a Journal in memory, for tests.
type MemoryJournal struct {
	mu    sync.Mutex
	lines map[string][]int
}

// Append records n for account.
func (j *MemoryJournal) Append(_ context.Context, account string, n int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.lines == nil {
		j.lines = map[string][]int{}
	}
	j.lines[account] = append(j.lines[account], n)
	return nil
}

// Lines returns account's posted numbers.
func (j *MemoryJournal) Lines(account string) []int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]int(nil), j.lines[account]...)
}

// Poster posts ENTRY and TRANSFER events to the journal, taking Delay for
// each (as a call to a database would), and emits what follows.
type Poster struct {
	Journal Journal
	Delay   time.Duration
}

// Listens lists what it takes.
func (Poster) Listens() []string { return []string{Entry, Transfer} }

// Handle posts e.
func (p Poster) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	if e.Key() == "" {
		return nil, core.Permanent(fmt.Errorf("%s has no account (key)", e))
	}
	var l Line
	if err := e.DecodePayload(&l); err != nil {
		return nil, core.Permanent(fmt.Errorf("%s: %w", e, err))
	}
	if p.Delay > 0 {
		select {
		case <-time.After(p.Delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := p.Journal.Append(ctx, e.Key(), l.N); err != nil {
		return nil, err
	}
	posted := core.MustEvent(Posted, Line{N: l.N, Amount: l.Amount})
	if e.Type() != Transfer {
		return core.Emit(posted), nil
	}
	if l.To == "" {
		return nil, core.Permanent(fmt.Errorf("%s: a transfer names no account to credit (to)", e))
	}
	in, err := NewEntry(l.To, l.ToN, l.Amount)
	if err != nil {
		return nil, err
	}
	return core.Emit(posted, in), nil
}

// Auditor takes each POSTED: the end of an entry's chain.
type Auditor struct{}

// Listens lists what it takes.
func (Auditor) Listens() []string { return []string{Posted} }

// Handle does nothing more.
func (Auditor) Handle(context.Context, core.Event) ([]core.Event, error) { return nil, nil }
