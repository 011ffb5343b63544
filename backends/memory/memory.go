package memory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/necrostack/necrostack/core"
)

// Compile-time checks of the capabilities the Spine discovers.
var (
	_ core.Backend      = (*Backend)(nil)
	_ core.Committer    = (*Backend)(nil)
	_ core.DeadLetterer = (*Backend)(nil)
	_ core.Releaser     = (*Backend)(nil)
)

// Config configures a Backend. The zero value means every default.
type Config struct {
	// Capacity bounds the queue for Enqueue: when it holds Capacity events,
	// Enqueue waits for room or for its ctx. Events committed by a Spine
	// (Commit, Release) are always accepted, even past Capacity, because
	// the Spine that would wait for room is the only thing that makes room:
	// a bounded queue fed by its own consumer would otherwise deadlock.
	// Default 0: unbounded.
	Capacity int
	// MaxEventBytes, when positive, bounds an event's wire form (the length
	// of Event.AppendJSON), as the Redis backend's Config.MaxEventBytes
	// does: Enqueue refuses a larger event, and Commit an outcome that
	// emits one, with a *core.RejectedEventError, so that the Spine
	// dead-letters the input (core.ReasonCommitRejected) for the organ that
	// emitted it. Set it to the production backend's limit (1 MiB for
	// Redis) to meet oversized events before production does. It costs an
	// encoding of every event enqueued or emitted. Default 0: no limit.
	MaxEventBytes int
}

// Backend is an in-memory FIFO queue. It is safe for concurrent use. Nothing
// survives the process: use it for development, tests and single-process
// programs.
type Backend struct {
	capacity int
	maxBytes int // 0: no limit

	mu     sync.Mutex
	queue  deque
	dead   []core.DeadLetter
	closed bool
	// ready is closed and replaced when the queue grows while a pull waits
	// on it, and when the backend closes; waiting pulls select on it. room
	// does the same for waiting enqueues when events leave. The flags say
	// whether anyone took the channel to wait on, so that a busy queue,
	// with nobody waiting, makes no channel per event.
	ready       chan struct{}
	room        chan struct{}
	readyWaited bool
	roomWaited  bool
	// waiting counts the Pulls blocked on ready, for tests (see
	// export_test.go); only a Pull about to wait touches it.
	waiting atomic.Int32
}

// New returns an empty Backend.
func New(opts Config) *Backend {
	return &Backend{
		capacity: max(opts.Capacity, 0), maxBytes: max(opts.MaxEventBytes, 0),
		ready: make(chan struct{}), room: make(chan struct{}),
	}
}

// wireBufs holds buffers to measure wire forms in.
var wireBufs = sync.Pool{New: func() any { return new([]byte) }}

// checkSize refuses e, with a *core.RejectedEventError, when its wire form
// is longer than MaxEventBytes.
func (b *Backend) checkSize(e core.Event) error {
	if b.maxBytes == 0 {
		return nil
	}
	buf := wireBufs.Get().(*[]byte)
	*buf = e.AppendJSON((*buf)[:0])
	n := len(*buf)
	if cap(*buf) <= 4<<20 { // keep no buffer a huge event grew
		wireBufs.Put(buf)
	}
	if n <= b.maxBytes {
		return nil
	}
	return &core.RejectedEventError{EventID: e.ID(),
		Err: fmt.Errorf("memory: event %s is %d bytes, more than MaxEventBytes (%d)", e, n, b.maxBytes)}
}

// Enqueue appends e to the queue. With a Capacity, it waits while the queue
// is full, until room appears or ctx is done. With a MaxEventBytes, it
// refuses a larger event (a *core.RejectedEventError).
func (b *Backend) Enqueue(ctx context.Context, e core.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if err := b.checkSize(e); err != nil {
		return err
	}
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return core.ErrClosed
		}
		if b.capacity == 0 || b.queue.len() < b.capacity {
			b.queue.pushBack(e)
			b.signalReadyLocked()
			b.mu.Unlock()
			return nil
		}
		room := b.room
		b.roomWaited = true
		b.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Pull removes and returns the oldest event. It waits up to timeout for one
// to arrive; with nothing by then it returns ok == false.
func (b *Backend) Pull(ctx context.Context, timeout time.Duration) (core.Delivery, bool, error) {
	var timer *time.Timer
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return core.Delivery{}, false, core.ErrClosed
		}
		if b.queue.len() > 0 {
			e := b.queue.popFront()
			if b.roomWaited {
				close(b.room)
				b.room = make(chan struct{})
				b.roomWaited = false
			}
			b.mu.Unlock()
			return core.Delivery{Event: e, Attempt: 1}, true, nil
		}
		ready := b.ready
		b.readyWaited = true
		b.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return core.Delivery{}, false, err
		}
		if timeout <= 0 {
			return core.Delivery{}, false, nil
		}
		if timer == nil {
			timer = time.NewTimer(timeout)
			defer timer.Stop()
		}
		b.waiting.Add(1)
		select {
		case <-ready:
			b.waiting.Add(-1)
		case <-timer.C:
			b.waiting.Add(-1)
			return core.Delivery{}, false, nil
		case <-ctx.Done():
			b.waiting.Add(-1)
			return core.Delivery{}, false, ctx.Err()
		}
	}
}

// Ack does nothing: a pulled event has already left the queue.
func (b *Backend) Ack(context.Context, core.Delivery) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return core.ErrClosed
	}
	return nil
}

// Commit appends the emitted events and the dead letters in one step; the
// acknowledgement is implicit. It ignores Capacity (see Config). With a
// MaxEventBytes, it commits nothing when an emitted event is larger, and
// returns a *core.RejectedEventError naming the first such event.
func (b *Backend) Commit(_ context.Context, _ core.Delivery, out core.Outcome) error {
	for _, e := range out.Emitted {
		if err := e.Validate(); err != nil {
			return err
		}
		if err := b.checkSize(e); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return core.ErrClosed
	}
	for _, e := range out.Emitted {
		b.queue.pushBack(e)
	}
	b.dead = append(b.dead, out.DeadLetters...)
	if len(out.Emitted) > 0 {
		b.signalReadyLocked()
	}
	return nil
}

// Release puts an unacknowledged delivery back at the front of the queue.
func (b *Backend) Release(_ context.Context, d core.Delivery) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return core.ErrClosed
	}
	b.queue.pushFront(d.Event)
	b.signalReadyLocked()
	return nil
}

// DeadLetter keeps dl; DeadLetters lists what was kept.
func (b *Backend) DeadLetter(_ context.Context, dl core.DeadLetter) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return core.ErrClosed
	}
	b.dead = append(b.dead, dl)
	return nil
}

// DeadLetters returns a copy of the dead letters, oldest first. It works after
// Close too, so a program can report them on its way out.
func (b *Backend) DeadLetters() []core.DeadLetter {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]core.DeadLetter(nil), b.dead...)
}

// Len returns the number of events waiting in the queue.
func (b *Backend) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queue.len()
}

// Close wakes every waiting Pull and Enqueue and makes every later call
// return core.ErrClosed. Events still queued are dropped. Close is safe to
// call more than once.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	close(b.ready)
	close(b.room)
	b.queue = deque{}
	return nil
}

func (b *Backend) signalReadyLocked() {
	if b.readyWaited {
		close(b.ready)
		b.ready = make(chan struct{})
		b.readyWaited = false
	}
}

// deque is a growable ring buffer of events.
type deque struct {
	buf  []core.Event
	head int
	n    int
}

func (q *deque) len() int { return q.n }

func (q *deque) grow() {
	size := max(16, 2*len(q.buf))
	buf := make([]core.Event, size)
	for i := 0; i < q.n; i++ {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

func (q *deque) pushBack(e core.Event) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
}

func (q *deque) pushFront(e core.Event) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = e
	q.n++
}

func (q *deque) popFront() core.Event {
	e := q.buf[q.head]
	q.buf[q.head] = core.Event{}
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return e
}
