//go:build linux

package bench

import (
	"container/heap"
	"context"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// On Linux, ioWait's waits end the way an I/O call's do: a file descriptor
// becomes ready and the runtime's netpoller wakes the goroutine waiting on
// it at once.
//
// A Go timer does not end that way when the process is mostly waiting. The
// runtime then sleeps in epoll_wait, whose timeout is whole milliseconds
// (runtime/netpoll_epoll.go truncates the wait to the millisecond, and makes
// a wait under one millisecond last one), so a timer fires up to a
// millisecond late. With 256 goroutines each waiting 1 ms on Go timers in a
// loop, this 2-core machine completed about 185,000 waits/s: each lasted
// 1.35 ms, and the bench would have measured the runtime's timer
// granularity rather than the systems under test, whose organs would be
// "waiting" a third longer than asked. A real organ's database reply makes
// its socket readable instead, and is not rounded.
//
// ioClock keeps the waits in a heap and a timerfd, non-blocking, in the
// runtime's netpoller like a socket; one goroutine reads it and, each time
// it expires, wakes every waiter whose deadline has passed. No wait ends
// early. While deadlines are dense (the next within two ioTicks) the timerfd
// ticks every ioTick, and a wait ends at most a tick (plus the wake-up)
// late; while they are sparse it is set for the next one. The same loop of
// 256 goroutines completed about 220,000 waits/s (1.12 ms each: the expiry
// reaches the process some 40 µs late on this virtual machine, and a burst
// of woken goroutines takes its turn on two cores). Dense deadlines share
// ticks rather than each setting the timer: on a virtual machine a timer's
// setting traps to the host, and at 180,000 waits/s setting it for each
// next deadline was a quarter of the process's CPU time. Sparse ones do
// not tick: at 9,000 waits/s (the Redis chain at 10% load) ticking all the
// time cost the worker 110 µs of CPU per handled event, against 97 µs
// setting the timer for each next deadline.

// platformWait waits d on the run's ioClock, or on a Go timer when no run
// holds one (a wait outside bench.Run, or after it).
func platformWait(ctx context.Context, d time.Duration) error {
	if c := ioClocks.current.Load(); c != nil {
		return c.wait(ctx, d)
	}
	return timerWait(ctx, d)
}

// ioClocks is the process's ioClock, while at least one run holds it.
var ioClocks struct {
	mu      sync.Mutex
	holders int
	current atomic.Pointer[ioClock]
}

// acquireIOClock makes ioWait use an ioClock until the returned release is
// called. Runs may overlap (tests): the clock is shared, started by the
// first and stopped by the last.
func acquireIOClock() (release func(), err error) {
	ioClocks.mu.Lock()
	defer ioClocks.mu.Unlock()
	if ioClocks.holders == 0 {
		c, err := startIOClock()
		if err != nil {
			return nil, err
		}
		ioClocks.current.Store(c)
	}
	ioClocks.holders++
	var once sync.Once
	return func() {
		once.Do(func() {
			ioClocks.mu.Lock()
			defer ioClocks.mu.Unlock()
			if ioClocks.holders--; ioClocks.holders == 0 {
				ioClocks.current.Swap(nil).stop()
			}
		})
	}, nil
}

// ioClock ends waits at their deadlines, read from a timerfd.
type ioClock struct {
	epoch time.Time // deadlines are nanoseconds since, on the monotonic clock
	fd    int       // the timerfd
	f     *os.File

	mu       sync.Mutex
	waiters  waiterHeap
	ticking  bool  // every ioTick
	armedAt  int64 // not ticking: the deadline the timerfd is set for; 0: none
	stopping bool
	done     chan struct{} // closed when the loop has returned
}

// waiter is one wait: woken by a send on ch, buffered for that one send.
type waiter struct {
	at int64
	ch chan struct{}
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

func startIOClock() (*ioClock, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC|unix.TFD_NONBLOCK)
	if err != nil {
		return nil, &clockError{"timerfd_create", err}
	}
	c := &ioClock{epoch: time.Now(), fd: fd, f: os.NewFile(uintptr(fd), "timerfd"), done: make(chan struct{})}
	go c.loop()
	return c, nil
}

// clockError names the system call that failed.
type clockError struct {
	call string
	err  error
}

func (e *clockError) Error() string { return "bench: I/O clock: " + e.call + ": " + e.err.Error() }
func (e *clockError) Unwrap() error { return e.err }

func (c *ioClock) now() int64 { return int64(time.Since(c.epoch)) }

// wait waits until d has passed, or ctx is done.
func (c *ioClock) wait(ctx context.Context, d time.Duration) error {
	w := waiterPool.Get().(*waiter)
	w.at = c.now() + int64(d)
	c.mu.Lock()
	if c.stopping { // a wait past the run's end: not ours to time
		c.mu.Unlock()
		waiterPool.Put(w)
		return timerWait(ctx, d)
	}
	heap.Push(&c.waiters, w)
	if !c.ticking && (c.armedAt == 0 || w.at < c.armedAt) {
		c.setFor(w.at)
	}
	c.mu.Unlock()
	select {
	case <-w.ch:
		waiterPool.Put(w)
		return nil
	case <-ctx.Done():
		return ctx.Err() // w stays in the heap, to be woken unread: not reused
	}
}

// ioTick is how often the timerfd ticks while deadlines are dense.
const ioTick = 50 * time.Microsecond

// tick makes the timerfd expire every ioTick from now (c.mu held).
func (c *ioClock) tick() {
	c.set(unix.ItimerSpec{Value: unix.NsecToTimespec(int64(ioTick)), Interval: unix.NsecToTimespec(int64(ioTick))})
	c.ticking, c.armedAt = true, 0
}

// setFor makes the timerfd expire once, at deadline at (c.mu held).
func (c *ioClock) setFor(at int64) {
	c.set(unix.ItimerSpec{Value: unix.NsecToTimespec(max(at-c.now(), 1))}) // zero would disarm it
	c.ticking, c.armedAt = false, at
}

// disarm stops the timerfd (c.mu held).
func (c *ioClock) disarm() {
	c.set(unix.ItimerSpec{})
	c.ticking, c.armedAt = false, 0
}

func (c *ioClock) set(spec unix.ItimerSpec) {
	if err := unix.TimerfdSettime(c.fd, 0, &spec, nil); err != nil {
		panic(&clockError{"timerfd_settime", err}) // only for a bad fd or value: a bug here
	}
}

// loop wakes the waiters whose deadline has passed each time the timerfd
// expires, until stop.
func (c *ioClock) loop() {
	defer close(c.done)
	var buf [8]byte // the count of expiries, unused
	for {
		if _, err := c.f.Read(buf[:]); err != nil {
			panic(&clockError{"read", err})
		}
		if !c.wake() {
			return
		}
	}
}

// wake wakes the waiters due by now and sets the timerfd for those left:
// ticking while the next is due within two ticks, else once for it, else
// not at all. It reports false once the clock is stopping, having woken
// every waiter and closed the timerfd.
func (c *ioClock) wake() bool {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.waiters) > 0 && (c.stopping || c.waiters[0].at <= now) {
		heap.Pop(&c.waiters).(*waiter).ch <- struct{}{}
	}
	if c.stopping {
		c.f.Close()
		return false
	}
	switch {
	case len(c.waiters) == 0:
		c.disarm()
	case c.waiters[0].at-now <= int64(2*ioTick):
		if !c.ticking {
			c.tick()
		}
	default:
		c.setFor(c.waiters[0].at)
	}
	return true
}

// stop ends the loop, once the waits in progress are woken (all of them, at
// once: the run is over) and returns when it has.
func (c *ioClock) stop() {
	c.mu.Lock()
	c.stopping = true
	c.setFor(c.now())
	c.mu.Unlock()
	<-c.done
}

// waiterHeap orders waiters by deadline, for container/heap.
type waiterHeap []*waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h waiterHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waiterHeap) Push(x any)        { *h = append(*h, x.(*waiter)) }
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}
