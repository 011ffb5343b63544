package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

// pingTimeout bounds the first contact with Redis. A run or an emit gives up
// after it; a worker warns and keeps trying.
const pingTimeout = 5 * time.Second

// redisIdle is how long a run's reads must stay empty, with nothing in
// flight, before its chains count as complete. What a handled event emits is
// in the stream before the event is acknowledged, so an empty read then
// means that nothing is left for this consumer.
const redisIdle = 250 * time.Millisecond

// redisQueue is the command's connection to Redis: the NecroStack backend
// and the go-redis client under it, which the command owns.
type redisQueue struct {
	backend *nsredis.Backend
	client  *goredis.Client
	url     string // redacted
}

// openRedis connects to the Redis of rc. With mustReach, a Redis that does
// not answer within pingTimeout is an error; without, it is a warning, and
// the backend keeps trying while the Spine backs off, so that workers may
// start before Redis does. Errors name the server, never with its password.
//
// In nsredis.ModeGroup the backend creates the consumer group of rc; a
// command that reads nothing through the group opens it in
// nsredis.ModeStream, which leaves the groups alone.
func openRedis(ctx context.Context, rc redisConfig, log *slog.Logger, mustReach bool, mode nsredis.Mode) (*redisQueue, error) {
	q := &redisQueue{client: goredis.NewClient(rc.options), url: nsredis.RedactURL(rc.url)}
	// Checked before nsredis.New, whose own attempt to create the group
	// would only log a warning.
	if err := q.ping(ctx); err != nil {
		if mustReach {
			_ = q.client.Close()
			return nil, q.errorf("%w", err)
		}
		log.LogAttrs(ctx, slog.LevelWarn, "redis not reachable yet; the worker keeps trying",
			slog.String("redis_url", q.url), slog.String(core.KeyError, err.Error()))
	}
	b, err := nsredis.New(ctx, nsredis.Config{
		Client:       q.client,
		Stream:       rc.stream,
		Mode:         mode,
		Group:        rc.group,
		Consumer:     rc.consumer,
		ClaimMinIdle: rc.claimMinIdle,
		Logger:       log,
	})
	if err != nil {
		_ = q.client.Close()
		return nil, err
	}
	q.backend = b
	return q, nil
}

func (q *redisQueue) ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	err := q.client.Ping(pctx).Err()
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v", pingTimeout)
	}
	return err
}

// errorf returns an error about the server: "redis at URL: ...".
func (q *redisQueue) errorf(format string, args ...any) error {
	return fmt.Errorf("redis at %s: "+format, append([]any{q.url}, args...)...)
}

// close closes the backend, which hands back to the stream the entries it
// read but did not hand out, then the client it used.
func (q *redisQueue) close() {
	_ = q.backend.Close()
	_ = q.client.Close()
}

// openRedisQueue returns the queue of a run on Redis.
func openRedisQueue(ctx context.Context, rc redisConfig, log *slog.Logger) (*queue, error) {
	r, err := openRedis(ctx, rc, log, true, nsredis.ModeGroup)
	if err != nil {
		return nil, err
	}
	backlog, err := r.client.XLen(ctx, r.backend.Config().Stream).Result()
	if err != nil {
		r.close()
		return nil, r.errorf("stream length: %w", err)
	}
	mark, err := r.deadLetterMark(ctx)
	if err != nil {
		r.close()
		return nil, r.errorf("%w", err)
	}
	return &queue{
		backend: r.backend,
		idle:    redisIdle,
		// An upper bound: the stream also holds entries already handled.
		backlog: int(backlog),
		deadLetters: func(ctx context.Context) ([]core.DeadLetter, error) {
			dls, err := r.deadLettersAfter(ctx, mark)
			if err != nil {
				return dls, r.errorf("%w", err)
			}
			return dls, nil
		},
		close: r.close,
	}, nil
}

// deadLetterMark returns the id of the newest dead letter, "" when there is
// none: the dead letters added later are those after it. Counting them would
// not do: another process may redrive some meanwhile.
func (q *redisQueue) deadLetterMark(ctx context.Context) (string, error) {
	msgs, err := q.client.XRevRangeN(ctx, q.backend.Config().DeadLetterStream, "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("newest dead letter: %w", err)
	}
	if len(msgs) == 0 {
		return "", nil
	}
	return msgs[0].ID, nil
}

// deadLettersAfter lists the dead letters after the one with id mark, all
// of them when mark is "".
func (q *redisQueue) deadLettersAfter(ctx context.Context, mark string) ([]core.DeadLetter, error) {
	var out []core.DeadLetter
	for {
		page, err := q.backend.DeadLetters(ctx, mark, 100)
		if err != nil || len(page) == 0 {
			return out, err
		}
		for _, dl := range page {
			out = append(out, dl.DeadLetter)
		}
		mark = page[len(page)-1].ID
	}
}

// emit enqueues the rituals of a séance for workers (-mode emit).
func emit(ctx context.Context, cfg config, log *slog.Logger, stdout, stderr io.Writer) int {
	q, err := openRedis(ctx, cfg.redis, log, true, nsredis.ModeGroup)
	if err != nil {
		fmt.Fprintf(stderr, "seance: %v\n", err)
		return exitFail
	}
	defer q.close()
	stream := q.backend.Config().Stream
	for n := 1; n <= cfg.rituals; n++ {
		e, err := cfg.summons(n)
		if err == nil {
			err = q.backend.Enqueue(ctx, e)
		}
		if err != nil {
			if ctx.Err() != nil {
				err = errors.New("interrupted")
			}
			done := ""
			if n > 1 {
				done = fmt.Sprintf(" (rituals 1 to %d of séance %s are in %s)", n-1, cfg.seance, stream)
			}
			fmt.Fprintf(stderr, "seance: %v%s\n", q.errorf("ritual %d of %d not enqueued: %w", n, cfg.rituals, err), done)
			return exitFail
		}
	}
	fmt.Fprintf(stdout, "enqueued %s (séance %s) to %s\n", plural(cfg.rituals, "ritual"), cfg.seance, stream)
	return exitOK
}

// work handles the rituals in the stream until ctx is cancelled
// (-mode worker), printing each as its omen is revealed.
func work(ctx context.Context, cfg config, log *slog.Logger, stdout, stderr io.Writer) int {
	q, err := openRedis(ctx, cfg.redis, log, false, nsredis.ModeGroup)
	if err != nil {
		fmt.Fprintf(stderr, "seance: %v\n", err)
		return exitFail
	}
	// Deferred so that it runs after the Spine has stopped: Close hands
	// back what was read but not handled.
	defer q.close()
	// The Scribe writes each ritual in one Write: straight to the file
	// when stdout is one, so nothing waits in a buffer.
	all, scribe := cfg.organs(stdout, log)
	spine, err := core.NewSpine(q.backend, all, core.Config{
		Concurrency: cfg.concurrency,
		// A worker runs until stopped; its organs emit no loops.
		MaxSteps: core.NoStepLimit,
		Logger:   log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "seance: %v\n", err)
		return exitFail
	}
	c := q.backend.Config()
	log.Info("worker listens", slog.String("redis_url", q.url), slog.String("stream", c.Stream),
		slog.String("group", c.Group), slog.String("consumer", c.Consumer), slog.Int("concurrency", cfg.concurrency),
		slog.Duration("claim_min_idle", c.ClaimMinIdle))
	fmt.Fprintf(stdout, "The medium %s listens on %s (group %s).\n\n", c.Consumer, c.Stream, c.Group)

	runErr := spine.Run(ctx)
	stats := spine.Stats()
	log.Info("worker stops", slog.Int64("pulled", stats.Pulled), slog.Int64("emitted", stats.Emitted),
		slog.Int64("failed", stats.Failed), slog.Int64("dead_lettered", stats.DeadLettered))
	fmt.Fprintf(stdout, "The medium %s rests after %s.\n", c.Consumer, plural(total(scribe.Omens()), "omen"))
	if runErr != nil {
		fmt.Fprintf(stderr, "seance: %v\n", runErr)
		return exitFail
	}
	return exitOK
}

// redrive moves every dead letter of the stream back to it (-mode redrive),
// as new entries holding the same events, for the workers to handle again,
// and prints how many it moved. Dead letters that hold no event (an entry
// that was not one) stay where they are, each reported on stderr, and the
// command then exits 1.
func redrive(ctx context.Context, cfg config, log *slog.Logger, stdout, stderr io.Writer) int {
	// Redrive reads and writes the streams only: opened in ModeStream, the
	// backend creates no consumer group, which would otherwise start a
	// group of its own at the beginning of the stream.
	q, err := openRedis(ctx, cfg.redis, log, true, nsredis.ModeStream)
	if err != nil {
		fmt.Fprintf(stderr, "seance: %v\n", err)
		return exitFail
	}
	defer q.close()
	c := q.backend.Config()
	moved, err := q.backend.Redrive(ctx)
	// The count is true whatever failed: each dead letter moves on its own.
	fmt.Fprintf(stdout, "redrove %s from %s to %s\n", plural(moved, "dead letter"), c.DeadLetterStream, c.Stream)
	if err == nil {
		return exitOK
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "seance: %v\n", q.errorf("redrive interrupted"))
		return exitFail
	}
	// One line per dead letter that stayed.
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	left := 0
	for _, e := range errs {
		if errors.Is(e, nsredis.ErrNotRedrivable) {
			left++
		}
		fmt.Fprintf(stderr, "seance: %v\n", q.errorf("%w", e))
	}
	if left > 0 {
		fmt.Fprintf(stderr, "seance: %s left in %s: they hold no event to hand back\n", plural(left, "dead letter"), c.DeadLetterStream)
	}
	return exitFail
}
