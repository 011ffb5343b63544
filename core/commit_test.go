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
	if dead[0].Organ != "" {
		t.Errorf("dead letter names organ %q, though the error names no emitted event", dead[0].Organ)
	}
}

// refuseHuge refuses events of type HUGE as a backend refuses one too large
// to store.
func refuseHuge(e core.Event) error {
	if e.Type() != "HUGE" {
		return nil
	}
	return fmt.Errorf("backend: %w", &core.RejectedEventError{EventID: e.ID(), Err: fmt.Errorf("event %s is too large", e)})
}

// emitting returns an organ named name that emits, for an IN, one event of
// each of the types.
func emitting(name string, types ...string) core.Organ {
	return core.OrganFunc(name, []string{"IN"}, func(context.Context, core.Event) ([]core.Event, error) {
		var out []core.Event
		for _, t := range types {
			out = append(out, core.MustEvent(t, nil))
		}
		return out, nil
	})
}

// A commit rejected for one emitted event dead-letters the input for the
// organ that emitted it (the first such event's, when several are refused),
// whatever the way the Spine commits.
func TestRejectedCommitNamesTheOrgan(t *testing.T) {
	t.Parallel()
	backends := []struct {
		name string
		new  func() (core.Backend, *fifo)
	}{
		{"Commit", func() (core.Backend, *fifo) {
			f := newFIFO()
			f.refuse = refuseHuge
			return &committing{fifo: f}, f
		}},
		{"CommitBatch", func() (core.Backend, *fifo) {
			f := newFIFO()
			f.refuse = refuseHuge
			return &batching{committing: &committing{fifo: f}, fail: map[string][]error{}}, f
		}},
		{"Enqueue+Ack", func() (core.Backend, *fifo) {
			f := newFIFO()
			f.refuse = refuseHuge
			return f, f
		}},
	}
	chains := []struct {
		name   string
		organs []core.Organ
		want   string
	}{
		{"one organ", []core.Organ{emitting("Bloat", "SMALL", "HUGE")}, "Bloat"},
		{"the second of three", []core.Organ{emitting("Quiet"), emitting("Small", "SMALL"), emitting("Bloat", "SMALL", "HUGE", "SMALL"), emitting("Small2", "SMALL")}, "Bloat"},
		{"the first of two refused", []core.Organ{emitting("Small", "SMALL"), emitting("Bloat", "HUGE"), emitting("Bloat2", "HUGE")}, "Bloat"},
		{"the first organ", []core.Organ{emitting("Bloat", "HUGE"), emitting("Small", "SMALL", "SMALL")}, "Bloat"},
	}
	for _, bk := range backends {
		for _, ch := range chains {
			t.Run(bk.name+"/"+ch.name, func(t *testing.T) {
				t.Parallel()
				b, f := bk.new()
				s := newSpine(t, b, fast(), append(ch.organs, relay("Sink", "SMALL", ""))...)
				in := core.MustEvent("IN", nil)
				if err := s.Enqueue(context.Background(), in); err != nil {
					t.Fatal(err)
				}
				runUntilIdle(t, s)
				_, dead, queued := f.snapshot()
				if len(dead) != 1 || dead[0].Reason != core.ReasonCommitRejected || !dead[0].Event.Equal(in) {
					t.Fatalf("dead letters: %+v, want one %s of the input", dead, core.ReasonCommitRejected)
				}
				if dead[0].Organ != ch.want {
					t.Errorf("dead letter's organ: got %q, want %q", dead[0].Organ, ch.want)
				}
				if !strings.Contains(dead[0].Error, "is too large") {
					t.Errorf("dead letter's error: %q", dead[0].Error)
				}
				if bk.name != "Enqueue+Ack" && len(queued) != 0 {
					t.Errorf("events of a rejected commit stored: %v", queued)
				}
			})
		}
	}
}
