package bench

import (
	"math"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
)

// recorder is what the organs of either system report to: handled calls per
// stage, and each omen with its latency. Its memory does not grow with the
// number of rituals beyond one bit each, so that max RSS measures the
// framework, not the benchmark.
type recorder struct {
	n      int64
	window int64 // most rituals in flight at once (enqueued, omen not yet recorded)

	handled [stages]paddedCounter
	omens   atomic.Int64 // distinct rituals completed
	bad     atomic.Int64 // omens repeated, out of range or incomplete
	seen    []atomic.Uint64
	lat     histogram
	warm    int64     // rituals 0 to warm-1 are the warm-up's (Config.Warmup)
	warmLat histogram // their latencies, kept out of lat

	inflight atomic.Int64
	wake     chan struct{} // the producer may send more

	done     chan struct{} // closed at the n-th omen
	end      time.Time     // when the n-th omen was recorded; read after done
	endAlloc uint64        // runtime.MemStats.Mallocs then
}

type paddedCounter struct {
	atomic.Int64
	_ [56]byte // own cache line: stages run on different goroutines in Watermill
}

func newRecorder(n, window int) *recorder {
	return &recorder{
		n:      int64(n),
		window: int64(window),
		seen:   make([]atomic.Uint64, (n+63)/64),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
}

// organ counts one organ call of stage.
func (rc *recorder) organ(stage int) { rc.handled[stage].Add(1) }

// totalHandled is the number of organ calls so far.
func (rc *recorder) totalHandled() int64 {
	var t int64
	for i := range rc.handled {
		t += rc.handled[i].Load()
	}
	return t
}

// omen records ritual r at the end of the chain.
func (rc *recorder) omen(r Ritual) {
	now := time.Now()
	if r.Ritual < 0 || int64(r.Ritual) >= rc.n || !complete(r) {
		rc.bad.Add(1)
		return
	}
	word, bit := r.Ritual/64, uint64(1)<<(r.Ritual%64)
	if rc.seen[word].Or(bit)&bit != 0 {
		rc.bad.Add(1) // a second omen for this ritual
		return
	}
	lat := &rc.lat
	if int64(r.Ritual) < rc.warm {
		lat = &rc.warmLat
	}
	lat.record(now.UnixNano() - r.EnqueuedNS)
	if rc.inflight.Add(-1) == rc.window/2 {
		select {
		case rc.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	if rc.omens.Add(1) == rc.n {
		rc.finish(now)
	}
}

// finish records the end of the run at the n-th omen. It is a function of
// its own, never inlined, because runtime.MemStats is about 5 KiB: in omen's
// frame it made each handler goroutine grow its stack (and copy it) on every
// omen, which a CPU profile of the I/O-bound run showed as 5% of the worker.
//
//go:noinline
func (rc *recorder) finish(now time.Time) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rc.end, rc.endAlloc = now, ms.Mallocs
	close(rc.done)
}

// histogram counts latencies in nanoseconds in log-linear buckets: exact
// below 256 ns, then 128 buckets per power of two, so a percentile is off by
// less than 0.8%. Safe for concurrent use; fixed size (about 58 KiB).
type histogram struct {
	counts [(64 - subBits) << subBits]atomic.Uint64
}

const subBits = 7

func bucketOf(v int64) int {
	if v < 0 {
		v = 0 // a clock step backwards: count it as instant
	}
	u := uint64(v)
	if u < 1<<(subBits+1) {
		return int(u)
	}
	shift := bits.Len64(u) - subBits - 1
	return (shift+1)<<subBits + int(u>>shift) - 1<<subBits
}

// bucketLow is the smallest value in bucket i.
func bucketLow(i int) int64 {
	if i < 1<<(subBits+1) {
		return int64(i)
	}
	shift := i>>subBits - 1
	return int64((uint64(i&(1<<subBits-1)) + 1<<subBits) << shift)
}

func (h *histogram) record(ns int64) { h.counts[bucketOf(ns)].Add(1) }

// quantile returns the q-quantile (0 < q ≤ 1) in nanoseconds: the middle of
// the bucket holding the ceil(q·count)-th smallest value. NaN when empty.
func (h *histogram) quantile(q float64) float64 {
	var total uint64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	if total == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		if cum >= rank {
			lo := bucketLow(i)
			hi := bucketLow(i + 1)
			return float64(lo) + float64(hi-lo-1)/2
		}
	}
	return math.NaN()
}
