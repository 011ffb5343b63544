package bench

import (
	"context"
	"testing"
	"time"

	"github.com/necrostack/necrostack/core"
)

// TestPhaseTracerReadOvertakingCommit: a Pull that comes before the commit
// that emitted the event is settled counts as a read below zero, not as an
// event never read (nor, for a seed, as one).
func TestPhaseTracerReadOvertakingCommit(t *testing.T) {
	ctx := context.Background()
	seedEvent, err := SummonRitual.New(seed(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	child, err := SpiritAppeared.New(seed(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	later, err := AnswerGenerated.New(seed(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	tr := newPhaseTracer()
	clock := time.Unix(0, 0)
	tr.now = func() time.Time { return clock }
	o := tr.observer()
	o.Pulled(ctx, core.Delivery{Event: seedEvent}) // a seed: no read to measure
	o.Pulled(ctx, core.Delivery{Event: child})     // overtakes its commit
	clock = clock.Add(2 * time.Millisecond)        // the commit settles 2 ms after that Pull
	o.Committed(ctx, core.Delivery{Event: seedEvent}, core.Outcome{Emitted: []core.Event{child}}, time.Millisecond, 1)
	o.Committed(ctx, core.Delivery{Event: child}, core.Outcome{Emitted: []core.Event{later}}, time.Millisecond, 1)
	o.Pulled(ctx, core.Delivery{Event: later}) // after its commit
	p := tr.phases()
	if p.Read.N != 2 {
		t.Fatalf("%d reads measured, want 2 (the seed has none)", p.Read.N)
	}
	if p.Read.Mean != -1000 { // -2 ms and 0
		t.Errorf("mean read %v µs: want -1,000, the mean of -2 ms (the read overtook its commit) and 0", p.Read.Mean)
	}
	if len(tr.early) != 0 || len(tr.emitted) != 0 {
		t.Errorf("%d early pulls and %d emitted events left over, want none", len(tr.early), len(tr.emitted))
	}
	if p.CommitCall.N != 2 || p.CommitCall.P50 < 990 || p.CommitBatch.P50 != 1 {
		t.Errorf("commit calls %+v, batches %+v: want two of about 1,000 µs, of one commit", p.CommitCall, p.CommitBatch)
	}
}
