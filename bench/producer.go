package bench

import (
	"context"
	"time"
)

// seeder enqueues a batch of seeds (SUMMON_RITUAL) into a system under test.
type seeder interface {
	seed(ctx context.Context, batch []Ritual) error
}

// maxBatch bounds the seeds enqueued in one call (one Redis pipeline).
const maxBatch = 256

// produce enqueues rituals 0 … n-1 and returns when all are enqueued.
//
// With rate 0 it enqueues as fast as the system takes them, keeping at most
// rc.window rituals in flight: once the window is full it waits until half
// of it has come back as omens, then refills it in batches. With rate > 0 it
// enqueues rate rituals per second, on schedule whatever the system does,
// in batches of those due (about one per millisecond).
//
// Each seed carries the wall-clock time at which its batch was built, just
// before it was handed to the system; with rate > 0, the time it was due,
// so that a producer held back by a full queue (the memory backend's
// Capacity) counts the wait in the seeds' latency instead of hiding it.
func produce(ctx context.Context, s seeder, rc *recorder, n int, rate float64) error {
	batch := make([]Ritual, 0, maxBatch)
	start := time.Now()
	for sent := 0; sent < n; {
		k := min(maxBatch, n-sent)
		if rate > 0 {
			due := int(time.Since(start).Seconds() * rate)
			if due <= sent {
				next := start.Add(time.Duration(float64(sent+1) / rate * float64(time.Second)))
				if err := sleepUntil(ctx, next); err != nil {
					return err
				}
				continue
			}
			k = min(k, due-sent)
		} else {
			k = min(k, max(1, int(rc.window/2)))
			if rc.window-rc.inflight.Load() < int64(k) {
				select {
				case <-rc.wake:
				case <-ctx.Done():
					return ctx.Err()
				}
				continue
			}
		}
		now := time.Now().UnixNano()
		batch = batch[:0]
		for i := range k {
			at := now
			if rate > 0 {
				at = min(now, start.UnixNano()+int64(float64(sent+i)/rate*float64(time.Second)))
			}
			batch = append(batch, seed(sent+i, at))
		}
		rc.inflight.Add(int64(k))
		if err := s.seed(ctx, batch); err != nil {
			return err
		}
		sent += k
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
