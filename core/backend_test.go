package core_test

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/necrostack/necrostack/core"
)

// fifo is a minimal blocking backend for the Spine's tests, recording the
// order of operations. It has no Commit, so the Spine falls back to
// Enqueue + DeadLetter + Ack; committing wraps it to add Commit.
type fifo struct {
	mu       sync.Mutex
	items    []core.Event
	wake     chan struct{}
	ops      []string
	dead     []core.DeadLetter
	pulls    int
	pullErrs []error // returned, in order, by the next pulls
	ackErrs  []error // returned, in order, by the next acks
	// refuse, when set, says why an event cannot be stored (nil: it can):
	// Enqueue returns it, and committing's Commit too for the first
	// emitted event it refuses.
	refuse func(core.Event) error
	closed bool
}

func newFIFO() *fifo { return &fifo{wake: make(chan struct{})} }

func (f *fifo) Enqueue(_ context.Context, e core.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return core.ErrClosed
	}
	if f.refuse != nil {
		if err := f.refuse(e); err != nil {
			return err
		}
	}
	f.items = append(f.items, e)
	f.ops = append(f.ops, "enqueue "+e.Type())
	close(f.wake)
	f.wake = make(chan struct{})
	return nil
}

func (f *fifo) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		f.pulls++
		if f.closed {
			f.mu.Unlock()
			return core.Delivery{}, false, core.ErrClosed
		}
		if len(f.pullErrs) > 0 {
			err := f.pullErrs[0]
			f.pullErrs = f.pullErrs[1:]
			f.mu.Unlock()
			return core.Delivery{}, false, err
		}
		if len(f.items) > 0 {
			e := f.items[0]
			f.items = f.items[1:]
			f.ops = append(f.ops, "pull "+e.Type())
			f.mu.Unlock()
			return core.Delivery{Event: e, Attempt: 1}, true, nil
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-deadline.C:
			return core.Delivery{}, false, nil
		case <-ctx.Done():
			return core.Delivery{}, false, ctx.Err()
		}
	}
}

func (f *fifo) Ack(_ context.Context, d core.Delivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ackErrs) > 0 {
		err := f.ackErrs[0]
		f.ackErrs = f.ackErrs[1:]
		return err
	}
	f.ops = append(f.ops, "ack "+d.Event.Type())
	return nil
}

func (f *fifo) DeadLetter(_ context.Context, dl core.DeadLetter) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = append(f.dead, dl)
	f.ops = append(f.ops, "dead "+dl.Event.Type())
	return nil
}

func (f *fifo) Release(_ context.Context, d core.Delivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = append([]core.Event{d.Event}, f.items...)
	f.ops = append(f.ops, "release "+d.Event.Type())
	return nil
}

func (f *fifo) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fifo) snapshot() (ops []string, dead []core.DeadLetter, queued []core.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ops...), append([]core.DeadLetter(nil), f.dead...), append([]core.Event(nil), f.items...)
}

type committing struct {
	*fifo
	commitErrs []error
	commits    int
}

func (c *committing) Commit(ctx context.Context, d core.Delivery, out core.Outcome) error {
	c.mu.Lock()
	if len(c.commitErrs) > 0 {
		err := c.commitErrs[0]
		c.commitErrs = c.commitErrs[1:]
		c.mu.Unlock()
		return err
	}
	if c.refuse != nil {
		for _, e := range out.Emitted {
			if err := c.refuse(e); err != nil {
				c.mu.Unlock()
				return err
			}
		}
	}
	c.commits++
	c.items = append(c.items, out.Emitted...)
	c.dead = append(c.dead, out.DeadLetters...)
	c.ops = append(c.ops, "commit "+d.Event.Type())
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
	return nil
}

var errTransient = errors.New("connection reset")
