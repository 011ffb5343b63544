package bench

import (
	"math"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 257, 1000, 4095, 4096, 1e6, 5e6 + 3, 1e9, 1 << 40, math.MaxInt64 / 2} {
		i := bucketOf(v)
		lo, hi := bucketLow(i), bucketLow(i+1)
		if v < lo || v >= hi {
			t.Errorf("%d in bucket %d = [%d, %d)", v, i, lo, hi)
		}
		if v >= 256 && float64(hi-lo)/float64(lo) > 1.0/128 {
			t.Errorf("bucket of %d is [%d, %d): wider than 1/128", v, lo, hi)
		}
	}
	if got := bucketOf(-5); got != 0 {
		t.Errorf("bucketOf(-5) = %d, want 0", got)
	}
}

func TestQuantiles(t *testing.T) {
	var h histogram
	if q := h.quantile(0.5); !math.IsNaN(q) {
		t.Errorf("empty histogram: quantile %v, want NaN", q)
	}
	for v := int64(1); v <= 10_000; v++ {
		h.record(v * 1000) // 1µs … 10ms
	}
	for _, tc := range []struct{ q, want float64 }{{0.5, 5e6}, {0.99, 9.9e6}, {1, 10e6}} {
		if got := h.quantile(tc.q); math.Abs(got-tc.want)/tc.want > 0.008 {
			t.Errorf("quantile(%v) = %v, want %v ± 0.8%%", tc.q, got, tc.want)
		}
	}
}

func TestRecorderRejectsBadOmens(t *testing.T) {
	rc := newRecorder(2, 2)
	rc.inflight.Add(2)
	r := seed(0, 0)
	summon(&r)
	channel(&r)
	rc.omen(r) // incomplete: no omen
	reveal(&r)
	rc.omen(r)
	rc.omen(r) // twice
	out := seed(7, 0)
	summon(&out)
	channel(&out)
	reveal(&out)
	rc.omen(out) // out of range
	if got := rc.omens.Load(); got != 1 {
		t.Errorf("omens %d, want 1", got)
	}
	if got := rc.bad.Load(); got != 3 {
		t.Errorf("bad %d, want 3", got)
	}
	select {
	case <-rc.done:
		t.Error("done before the second ritual")
	default:
	}
}

func TestRecorderKeepsWarmupApart(t *testing.T) {
	rc := newRecorder(4, 4)
	rc.warm = 2
	rc.inflight.Add(4)
	for i, enqueued := range []int64{60e6, 50e6, 3e6, 2e6} { // ago
		r := seed(i, time.Now().UnixNano()-enqueued)
		summon(&r)
		channel(&r)
		reveal(&r)
		rc.omen(r)
	}
	// Rituals 0 and 1 (60 and 50 ms) are the warm-up's; 2 and 3 (3 and 2 ms)
	// the steady state's.
	if p99 := rc.lat.quantile(0.99) / 1e6; p99 < 2.9 || p99 > 10 {
		t.Errorf("steady p99 %.1f ms, want that of the 3 ms ritual", p99)
	}
	if p50 := rc.warmLat.quantile(0.5) / 1e6; p50 < 49 || p50 > 55 {
		t.Errorf("warm-up p50 %.1f ms, want that of the 50 ms ritual", p50)
	}
	if got := rc.omens.Load(); got != 4 {
		t.Errorf("omens %d, want 4: the warm-up's count too", got)
	}
	select {
	case <-rc.done:
	default:
		t.Error("not done after all four omens")
	}
}
