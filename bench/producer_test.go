package bench

import (
	"context"
	"testing"
	"time"
)

// seedRecorder is a seeder that keeps what it is given and when, and is slow
// the first time: a system whose queue is full.
type seedRecorder struct {
	first  time.Duration
	seeds  []Ritual
	handed []time.Time
}

func (s *seedRecorder) seed(_ context.Context, batch []Ritual) error {
	if len(s.seeds) == 0 {
		time.Sleep(s.first) // the slow enqueue under test
	}
	now := time.Now()
	for _, r := range batch {
		s.seeds = append(s.seeds, r)
		s.handed = append(s.handed, now)
	}
	return nil
}

// At a fixed rate a seed carries the time it was due, not the time it was
// handed over: the rituals a slow enqueue held back count the wait.
func TestProduceAtRateStampsDueTimes(t *testing.T) {
	const n, rate = 60, 1000.0
	s := &seedRecorder{first: 30 * time.Millisecond}
	rc := newRecorder(n, n)
	if err := produce(context.Background(), s, rc, n, rate); err != nil {
		t.Fatal(err)
	}
	if len(s.seeds) != n {
		t.Fatalf("%d seeds, want %d", len(s.seeds), n)
	}
	base := s.seeds[0].EnqueuedNS
	late := 0
	for i, r := range s.seeds {
		if r.Ritual != i {
			t.Fatalf("seed %d is ritual %d", i, r.Ritual)
		}
		due := base + int64(float64(i)/rate*float64(time.Second))
		if d := r.EnqueuedNS - due; d < -int64(time.Microsecond) || d > int64(time.Microsecond) {
			t.Errorf("ritual %d stamped %v from the first, want %v (its due time)", i, time.Duration(r.EnqueuedNS-base), time.Duration(due-base))
		}
		if s.handed[i].UnixNano()-r.EnqueuedNS > int64(15*time.Millisecond) {
			late++
		}
	}
	if late == 0 {
		t.Error("no seed was handed over well after its due time: the slow enqueue did not hold any back")
	}
}
