package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/necrostack/necrostack/backends/memory"
	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

// reachTimeout bounds the first contact with Redis of the modes that need
// it at once (run, emit, redrive). A worker warns and keeps trying.
const reachTimeout = 5 * time.Second

// queue is the backend of one process, with what the modes need of it
// beyond core.Backend.
type queue struct {
	backend core.Backend
	redis   *nsredis.Backend // nil on memory; partition 0 with partitions
	parts   []*nsredis.Backend
	name    string          // the stream as given, without its partitions
	memory  *memory.Backend // nil on Redis
	// idle is how long a run's pull must stay empty, with nothing in
	// flight, for its chain to count as done: what a handled event emits
	// is stored before the event is acknowledged, so an empty pull then
	// means nothing is left for this process.
	idle time.Duration
	// backlog is how many entries were in the stream before a run seeded
	// its own: each may start a chain of its own.
	backlog int
	// mark is the newest dead letter before a run (Redis): those added by
	// the run come after it.
	mark string
}

// exitError is an error with the exit code it calls for.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the code an error calls for: 4 for a fatal backend error,
// else its own or 1.
func exitCode(err error) int {
	if errors.Is(err, core.ErrFatal) {
		return ExitRefused
	}
	if e, ok := errors.AsType[*exitError](err); ok {
		return e.code
	}
	return ExitFailed
}

// open opens the backend the settings name.
func (p *Process) open(ctx context.Context) (*queue, error) {
	if p.Backend == BackendMemory {
		b := memory.New(memory.Config{})
		return &queue{backend: b, memory: b, idle: 20 * time.Millisecond}, nil
	}
	mode := nsredis.ModeGroup
	if p.Mode == ModeRedrive {
		// Redrive reads and writes the streams only: in ModeStream the
		// backend creates no consumer group, which would start at the
		// beginning of the stream.
		mode = nsredis.ModeStream
	}
	cfg := nsredis.Config{
		URL: p.RedisURL, Stream: p.Stream, Group: p.Group, Consumer: p.Consumer, Mode: mode,
		ClaimMinIdle: p.ClaimMinIdle, MaxEventBytes: p.App.MaxEventBytes, Logger: p.Log, WaitReplicas: p.WaitReplicas,
	}
	q, err := p.openRedis(ctx, cfg)
	if err != nil {
		return nil, p.redisError(err)
	}
	b := q.redis
	p.mu.Lock()
	p.redis = b
	p.mu.Unlock()
	// The names in force, defaults applied, for the app's hooks.
	c := b.Config()
	p.Group, p.Consumer, p.ClaimMinIdle = c.Group, c.Consumer, c.ClaimMinIdle
	if len(q.parts) == 1 {
		p.Stream = c.Stream
	}
	if p.Mode == ModeWorker {
		return q, nil
	}
	rctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	if err := q.ready(rctx); err != nil {
		q.close()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %v", reachTimeout)
		}
		if !errors.Is(err, core.ErrFatal) {
			err = &exitError{ExitUnavailable, err}
		}
		return nil, p.redisError(err)
	}
	return q, nil
}

// openRedis opens the stream, split into partitions (shared or ordered)
// when the settings ask.
func (p *Process) openRedis(ctx context.Context, cfg nsredis.Config) (*queue, error) {
	q := &queue{idle: 250 * time.Millisecond, name: cfg.Stream}
	switch {
	case p.Ordered:
		o, err := nsredis.NewOrdered(ctx, cfg, p.Partitions, nsredis.OrderedOptions{LeaseTTL: p.LeaseTTL})
		if err != nil {
			return nil, err
		}
		q.backend, q.parts = o, o.Partitions()
	case p.Partitions > 1:
		pb, err := nsredis.NewPartitioned(ctx, cfg, p.Partitions)
		if err != nil {
			return nil, err
		}
		q.backend, q.parts = pb, pb.Partitions()
	default:
		b, err := nsredis.New(ctx, cfg)
		if err != nil {
			return nil, err
		}
		q.backend, q.parts = b, []*nsredis.Backend{b}
	}
	q.redis = q.parts[0]
	return q, nil
}

// redisError says which server an error is about, without its password.
func (p *Process) redisError(err error) error {
	return fmt.Errorf("redis at %s: %w", nsredis.RedactURL(p.RedisURL), err)
}

// prepare records, before a run seeds, what the stream holds already.
func (q *queue) prepare(ctx context.Context) error {
	if q.redis == nil {
		return nil
	}
	rdb, c := q.redis.Client(), q.redis.Config()
	n, err := rdb.XLen(ctx, c.Stream).Result()
	if err != nil {
		return fmt.Errorf("stream length: %w", err)
	}
	q.backlog = int(n) // an upper bound: it counts entries handled already
	newest, err := rdb.XRevRangeN(ctx, c.DeadLetterStream, "+", "-", 1).Result()
	if err != nil {
		return fmt.Errorf("newest dead letter: %w", err)
	}
	if len(newest) > 0 {
		q.mark = newest[0].ID
	}
	return nil
}

// deadLetters lists the dead letters added since prepare: all of them on
// memory, those after the mark on Redis (counting them would not do:
// another process may redrive some meanwhile).
func (q *queue) deadLetters(ctx context.Context) ([]core.DeadLetter, error) {
	if q.memory != nil {
		return q.memory.DeadLetters(), nil
	}
	var out []core.DeadLetter
	for after := q.mark; ; {
		page, err := q.redis.DeadLetters(ctx, after, 100)
		if err != nil || len(page) == 0 {
			return out, err
		}
		for _, dl := range page {
			out = append(out, dl.DeadLetter)
		}
		after = page[len(page)-1].ID
	}
}

// ready is the readiness of the listener's /readyz: every partition's.
func (q *queue) ready(ctx context.Context) error {
	for i, b := range q.parts {
		if err := b.Ready(ctx); err != nil {
			if len(q.parts) > 1 {
				return fmt.Errorf("partition %d: %w", i, err)
			}
			return err
		}
	}
	return nil
}

func (q *queue) stream() string {
	if q.redis == nil {
		return ""
	}
	if len(q.parts) > 1 {
		return fmt.Sprintf("%s (%d partitions)", q.name, len(q.parts))
	}
	return q.redis.Config().Stream
}

func (q *queue) close() { _ = q.backend.(interface{ Close() error }).Close() }
