package organs_test

import (
	"slices"
	"testing"

	"github.com/necrostack/necrostack/apps/ledger/organs"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/core/necrotest"
)

// An entry is posted to its account's journal and audited; a transfer is
// posted, and makes the receiving account's entry, keyed to it.
func TestPostAndTransfer(t *testing.T) {
	j := &organs.MemoryJournal{}
	entry, err := organs.NewEntry("acct-1", 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	transfer, err := organs.NewTransfer("acct-1", 1, "acct-2", 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	tr := necrotest.Run(t, []core.Organ{organs.Poster{Journal: j}, organs.Auditor{}}, entry, transfer)
	tr.AssertCount(t, organs.Posted, 3)
	tr.AssertCount(t, organs.Entry, 2)
	if got := j.Lines("acct-1"); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("acct-1's journal: %v, want [0 1]", got)
	}
	if got := j.Lines("acct-2"); !slices.Equal(got, []int{0}) {
		t.Errorf("acct-2's journal: %v, want [0]", got)
	}
	for _, r := range tr.Records {
		if r.Event.Type() == organs.Entry && r.Event.Key() == "" {
			t.Errorf("%s carries no account", r.Event)
		}
	}
	for _, r := range tr.Records {
		if r.Event.Type() == organs.Entry && r.Event.ID() != entry.ID() && r.Event.Key() != "acct-2" {
			t.Errorf("the transfer's entry %s is keyed %q, want acct-2", r.Event, r.Event.Key())
		}
	}
}

// An entry without an account, or a transfer to none, is dead-lettered
// without retries.
func TestBadLinesAreDeadLettered(t *testing.T) {
	noKey := core.MustEvent(organs.Entry, organs.Line{N: 0})
	noTo, err := organs.NewTransfer("acct-1", 0, "", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr := necrotest.Run(t, []core.Organ{organs.Poster{Journal: &organs.MemoryJournal{}}, organs.Auditor{}}, noKey, noTo)
	if len(tr.DeadLetters) != 2 {
		t.Fatalf("dead letters: %+v, want 2", tr.DeadLetters)
	}
	for _, dl := range tr.DeadLetters {
		if dl.Attempts != 1 {
			t.Errorf("%s dead-lettered after %d attempts, want 1 (permanent)", dl.Event, dl.Attempts)
		}
	}
}
