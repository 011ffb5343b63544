package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/apps/etl/organs"
	"github.com/necrostack/necrostack/backends/memory"
	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

// maxEventBytes bounds an event on Redis (nsredis.Config.MaxEventBytes); every
// process on a stream must use the same bound. RAW_DATA_LOADED, DATA_CLEANED
// and DATA_TRANSFORMED may carry every row of a file, so it must hold, as
// JSON, any file the Extractor accepts (organs.DefaultMaxBytes, 8 MiB, and
// organs.DefaultMaxRows, 100,000 rows). For text, JSON costs at most 4 bytes
// per input byte (a dropped row's detail quotes a field with %q, and JSON
// escapes the quoting again) plus about 100 bytes per row: under 38 MiB at
// both limits (TestEventSizes), so 64 MiB leaves room, and keeps the one
// input limit on both backends. A file dense in the characters JSON escapes
// to six bytes (<, >, & and control characters) may still exceed it; the
// organ that would emit the event then fails with a permanent error saying
// so (see checkSizes), and the event is dead-lettered, rather than the
// commit failing forever.
const maxEventBytes = 64 << 20

// firstContactTimeout bounds the first PING: run and emit fail after it,
// a worker warns and keeps trying.
const firstContactTimeout = 5 * time.Second

// deadLetterPage is how many dead letters one read fetches: each may hold an
// event of up to maxEventBytes.
const deadLetterPage = 16

var errInterrupted = errors.New("interrupted")

// queue is the backend of a run and what the command needs of it besides.
// The backend is a field, not embedded: the Spine discovers optional
// capabilities (Committer, Releaser, ...) by type assertion, which a wrapper
// would hide.
type queue struct {
	backend core.Backend
	// maxEventBytes bounds an event's wire form; 0: no bound.
	maxEventBytes int
	// mark returns a position in the dead letters, for deadLetters.
	mark func(ctx context.Context) (string, error)
	// deadLetters returns the dead letters of job added after mark.
	deadLetters func(ctx context.Context, mark, job string) ([]core.DeadLetter, error)
	// describe says where events go, for logs.
	describe []slog.Attr
	close    func() error
}

// openQueue is the one place that chooses the backend.
func openQueue(ctx context.Context, cfg config, logger *slog.Logger) (*queue, error) {
	if cfg.backend == backendRedis {
		return openRedis(ctx, cfg, logger)
	}
	b := memory.New(memory.Config{})
	return &queue{
		backend: b,
		mark:    func(context.Context) (string, error) { return strconv.Itoa(len(b.DeadLetters())), nil },
		deadLetters: func(_ context.Context, mark, job string) ([]core.DeadLetter, error) {
			n, _ := strconv.Atoi(mark)
			all := b.DeadLetters()
			return ofJob(all[min(n, len(all)):], job), nil
		},
		close: b.Close,
	}, nil
}

func ofJob(dls []core.DeadLetter, job string) []core.DeadLetter {
	var out []core.DeadLetter
	for _, dl := range dls {
		if organs.JobOf(dl.Event) == job {
			out = append(out, dl)
		}
	}
	return out
}

// openRedis connects to Redis and checks, with one bounded PING, that it
// answers. The client is the command's, not the backend's, so that a bad
// URL is a flag error and an unreachable server is one plain line.
func openRedis(ctx context.Context, cfg config, logger *slog.Logger) (*queue, error) {
	rdb := goredis.NewClient(cfg.redisOpts)
	contactCtx, cancel := context.WithTimeout(ctx, firstContactTimeout)
	defer cancel()
	if err := rdb.Ping(contactCtx).Err(); err != nil {
		if ctx.Err() != nil {
			rdb.Close()
			return nil, errInterrupted
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v", firstContactTimeout)
		}
		unreachable := fmt.Errorf("cannot connect to redis at %s: %s", nsredis.RedactURL(cfg.redisURL), nsredis.Redact(err.Error(), cfg.redisURL))
		if cfg.mode != modeWorker {
			rdb.Close()
			return nil, unreachable
		}
		logger.LogAttrs(ctx, slog.LevelWarn, unreachable.Error()+"; the worker keeps trying")
	}
	newCtx, cancelNew := context.WithTimeout(ctx, firstContactTimeout)
	defer cancelNew()
	b, err := nsredis.New(newCtx, nsredis.Config{
		Client:        rdb,
		Stream:        cfg.stream,
		Group:         cfg.group,
		Consumer:      cfg.consumer,
		MaxEventBytes: maxEventBytes,
		Logger:        logger,
	})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	bc := b.Config()
	return &queue{
		backend:       b,
		maxEventBytes: maxEventBytes,
		mark: func(ctx context.Context) (string, error) {
			last, err := rdb.XRevRangeN(ctx, bc.DeadLetterStream, "+", "-", 1).Result()
			if err != nil {
				return "", fmt.Errorf("redis: read the dead letters of %s: %w", bc.Stream, err)
			}
			if len(last) == 0 {
				return "", nil // from the start
			}
			return last[0].ID, nil
		},
		deadLetters: func(ctx context.Context, mark, job string) ([]core.DeadLetter, error) {
			var out []core.DeadLetter
			for {
				page, err := b.DeadLetters(ctx, mark, deadLetterPage)
				if err != nil || len(page) == 0 {
					return out, err
				}
				for _, dl := range page {
					if organs.JobOf(dl.Event) == job {
						out = append(out, dl.DeadLetter)
					}
				}
				mark = page[len(page)-1].ID
			}
		},
		describe: []slog.Attr{
			slog.String("redis", nsredis.RedactURL(cfg.redisURL)), slog.String("stream", bc.Stream),
			slog.String("group", bc.Group), slog.String("consumer", bc.Consumer),
		},
		close: func() error { return errors.Join(b.Close(), rdb.Close()) },
	}, nil
}
