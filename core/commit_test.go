package core_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/necrostack/necrostack/core"
)

func TestEmittedEnqueuedBeforeAck(t *testing.T) {
	t.Parallel()
	b := newFIFO()
	s := newSpine(t, b, fast(), relay("Summoner", "SUMMON_RITUAL", "SPIRIT_APPEARED"), relay("Scribe", "SPIRIT_APPEARED", ""))
	if err := s.Enqueue(context.Background(), core.MustEvent("SUMMON_RITUAL", nil)); err != nil {
		t.Fatal(err)
	}
	runUntilIdle(t, s)
	ops, _, _ := b.snapshot()
	want := []string{"enqueue SUMMON_RITUAL", "pull SUMMON_RITUAL", "enqueue SPIRIT_APPEARED", "ack SUMMON_RITUAL",
		"pull SPIRIT_APPEARED", "ack SPIRIT_APPEARED"}
	if !slices.Equal(ops, want) {
		t.Errorf("ops:\n got  %v\n want %v", ops, want)
	}
}

func TestCommitRetriedUntilItSucceeds(t *testing.T) {
	t.Parallel()
	b := &committing{fifo: newFIFO(), commitErrs: []error{errTransient, errTransient}}
	var sunk atomic.Int32
	s := newSpine(t, b, fast(), relay("Relay", "A", "B"), core.OrganFunc("Sink", []string{"B"}, func(context.Context, core.Event) ([]core.Event, error) {
		sunk.Add(1)
		return nil, nil
	}))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	if sunk.Load() != 1 {
		t.Errorf("B handled %d times, want exactly 1", sunk.Load())
	}
}

func TestNonAtomicCommitDoesNotRepeatDoneSteps(t *testing.T) {
	t.Parallel()
	b := newFIFO()
	b.ackErrs = []error{errTransient}
	s := newSpine(t, b, fast(), relay("Relay", "A", "B"), relay("Sink", "B", ""))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	ops, _, _ := b.snapshot()
	if n := slices.Index(ops, "enqueue B"); n < 0 || slices.Index(ops[n+1:], "enqueue B") >= 0 {
		t.Errorf("B enqueued other than once after a failed ack: %v", ops)
	}
}

func TestLostDeliveryIsNotRetried(t *testing.T) {
	t.Parallel()
	b := &committing{fifo: newFIFO(), commitErrs: []error{fmt.Errorf("commit: %w", core.ErrDeliveryLost)}}
	s := newSpine(t, b, fast(), relay("Relay", "A", "B"), relay("Sink", "B", ""))
	_ = s.Enqueue(context.Background(), core.MustEvent("A", nil))
	runUntilIdle(t, s)
	ops, _, queued := b.snapshot()
	if b.commits != 0 || len(queued) != 0 {
		t.Errorf("after a lost delivery: %d commits, queue %v; want the outcome discarded", b.commits, queued)
	}
	if want := []string{"enqueue A", "pull A"}; !slices.Equal(ops, want) {
		t.Errorf("ops: got %v, want %v", ops, want)
	}
}

func TestPermanentCommitErrorDeadLettersTheInput(t *testing.T) {
	t.Parallel()
	b := &committing{fifo: newFIFO(), commitErrs: []error{core.Permanent(errors.New("event too large"))}}
	s := newSpine(t, b, fast(), relay("Relay", "A", "B"), relay("Sink", "B", ""))
	in := core.MustEvent("A", nil)
	_ = s.Enqueue(context.Background(), in)
	runUntilIdle(t, s)
	_, dead, queued := b.snapshot()
	if len(queued) != 0 {
		t.Errorf("emitted events survived a rejected commit: %v", queued)
	}
	if len(dead) != 1 || dead[0].Reason != core.ReasonCommitRejected || !dead[0].Event.Equal(in) ||
		!strings.Contains(dead[0].Error, "event too large") {
		t.Errorf("dead letters: %+v", dead)
	}
}
