// The conformance cases of the optional capabilities a backend may have:
// Committer, BatchCommitter, Releaser, DeadLetterer.

package necrotest

import (
	"errors"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

func (c conformance) commit(t *testing.T) {
	ctx, b := testCtx(t), c.backend(t)
	cm, ok := b.(core.Committer)
	if !ok {
		t.Skip("backend does not implement core.Committer")
	}
	in := c.seq(t, 1, "input")[0]
	mustEnqueue(t, ctx, b, in)
	d := c.mustPull(t, ctx, b)
	emitted := c.seq(t, 3, "emitted")
	out := core.Outcome{Emitted: emitted}
	var dl core.DeadLetter
	if _, ok := b.(core.DeadLetterer); ok && c.DeadLetters != nil {
		dl = core.DeadLetter{Event: in, Organ: "Failing", Reason: core.ReasonHandlerFailed,
			Error: "boom", Attempts: 3, Time: time.Now().UTC()}
		out.DeadLetters = []core.DeadLetter{dl}
	}
	if err := cm.Commit(ctx, d, out); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	c.mustPullInOrder(t, ctx, b, "Commit", emitted)
	c.mustBeEmpty(t, ctx, b)
	if out.DeadLetters != nil {
		dls := c.DeadLetters(t, b)
		if len(dls) != 1 || !sameDeadLetter(dls[0], dl) {
			t.Errorf("dead letters after Commit: got %+v, want [%+v]", dls, dl)
		}
	}
}

// commitBatch commits three deliveries' outcomes in one CommitBatch, and the
// first delivery a second time in the same batch. The three succeed, each
// whole; the duplicate either succeeds too (a backend that does not track
// deliveries) or fails with core.ErrDeliveryLost, and then none of its
// outcome is written. The emitted events come out in commit order.
func (c conformance) commitBatch(t *testing.T) {
	ctx, b := testCtx(t), c.backend(t)
	bc, ok := b.(core.BatchCommitter)
	if !ok {
		t.Skip("backend does not implement core.BatchCommitter")
	}
	in := c.seq(t, 3, "batch-input", c.BatchKeys...)
	mustEnqueue(t, ctx, b, in...)
	ds := make([]core.Delivery, len(in))
	for i, want := range in {
		ds[i] = c.mustPull(t, ctx, b)
		if ds[i].Event.ID() != want.ID() {
			t.Fatalf("pull #%d: got %s, want %s", i, ds[i].Event, want)
		}
	}
	_, dead := b.(core.DeadLetterer)
	dead = dead && c.DeadLetters != nil
	first, second, again := c.seq(t, 2, "batch-first"), c.seq(t, 1, "batch-second"), c.seq(t, 2, "batch-again")
	var dlSecond, dlAgain []core.DeadLetter
	if dead {
		dlSecond = []core.DeadLetter{{Event: in[1], Organ: "Failing", Reason: core.ReasonHandlerFailed,
			Error: "boom", Attempts: 3, Time: time.Now().UTC()}}
		dlAgain = []core.DeadLetter{{Event: in[0], Organ: "Failing", Reason: core.ReasonHandlerFailed,
			Error: "boom again", Attempts: 2, Time: time.Now().UTC()}}
	}
	commits := []core.Commit{
		{Delivery: ds[0], Outcome: core.Outcome{Emitted: first}},
		{Delivery: ds[1], Outcome: core.Outcome{Emitted: second, DeadLetters: dlSecond}},
		{Delivery: ds[2]}, // an acknowledgement alone
		{Delivery: ds[0], Outcome: core.Outcome{Emitted: again, DeadLetters: dlAgain}},
	}
	errs := bc.CommitBatch(ctx, commits)
	if errs != nil && len(errs) != len(commits) {
		t.Fatalf("CommitBatch of %d commits returned %d errors, want one per commit or nil", len(commits), len(errs))
	}
	errOf := func(i int) error {
		if errs == nil {
			return nil
		}
		return errs[i]
	}
	for i := range 3 {
		if err := errOf(i); err != nil {
			t.Fatalf("CommitBatch, commit #%d: %v", i, err)
		}
	}
	dup := errOf(3)
	if dup != nil && !errors.Is(dup, core.ErrDeliveryLost) {
		t.Fatalf("CommitBatch, the delivery committed a second time: got %v, want nil or core.ErrDeliveryLost", dup)
	}
	want := append(append([]core.Event(nil), first...), second...)
	wantDLs := dlSecond
	if dup == nil {
		want = append(want, again...)
		wantDLs = append(append([]core.DeadLetter(nil), dlSecond...), dlAgain...)
	}
	t.Logf("the duplicate commit returned %v", dup)
	c.mustPullInOrder(t, ctx, b, "CommitBatch", want)
	c.mustBeEmpty(t, ctx, b)
	if dead {
		dls := c.DeadLetters(t, b)
		if len(dls) != len(wantDLs) {
			t.Fatalf("dead letters after CommitBatch: got %d, want %d: %+v", len(dls), len(wantDLs), dls)
		}
		for i := range wantDLs {
			if !sameDeadLetter(dls[i], wantDLs[i]) {
				t.Errorf("dead letter #%d after CommitBatch:\n got  %+v\n want %+v", i, dls[i], wantDLs[i])
			}
		}
	}
}

func (c conformance) release(t *testing.T) {
	ctx, b := testCtx(t), c.backend(t)
	r, ok := b.(core.Releaser)
	if !ok {
		t.Skip("backend does not implement core.Releaser")
	}
	events := c.seq(t, 2, "release")
	mustEnqueue(t, ctx, b, events...)
	d := c.mustPull(t, ctx, b)
	if err := r.Release(ctx, d); err != nil {
		t.Fatalf("Release: %v", err)
	}
	c.mustPullInOrder(t, ctx, b, "Release", events)
}

func (c conformance) deadLetters(t *testing.T) {
	ctx, b := testCtx(t), c.backend(t)
	dlr, ok := b.(core.DeadLetterer)
	if !ok {
		t.Skip("backend does not implement core.DeadLetterer")
	}
	if c.DeadLetters == nil {
		t.Fatal("backend implements core.DeadLetterer but BackendSuite.DeadLetters is nil")
	}
	events := c.seq(t, 2, "dead")
	want := []core.DeadLetter{
		{Event: events[0], Organ: "Oracle", Reason: core.ReasonHandlerFailed, Error: "the omen is unclear", Attempts: 3,
			Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{Event: events[1], Reason: core.ReasonUnroutable, Error: "no organ listens to CONFORMANCE_EVENT",
			Time: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)},
	}
	for _, dl := range want {
		if err := dlr.DeadLetter(ctx, dl); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	got := c.DeadLetters(t, b)
	if len(got) != len(want) {
		t.Fatalf("dead letters: got %d, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameDeadLetter(got[i], want[i]) {
			t.Errorf("dead letter #%d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
	// Dead letters are not events to handle.
	c.mustBeEmpty(t, ctx, b)
}

func sameDeadLetter(a, b core.DeadLetter) bool {
	return a.Event.Equal(b.Event) && a.Organ == b.Organ && a.Reason == b.Reason &&
		a.Error == b.Error && a.Attempts == b.Attempts && a.Time.Sub(b.Time).Abs() < time.Millisecond
}
