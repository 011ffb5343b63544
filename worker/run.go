package worker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/necrotel"
)

// Main runs app as the program: it reads os.Args and the environment,
// stops gracefully on the first SIGINT or SIGTERM (a second one kills a
// shutdown that takes too long), and exits with Run's code.
func Main(app App) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // the second signal gets the default handling
	code := Run(ctx, app, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// silentRedis drops the lines go-redis logs on its own: plain text that
// would break the JSON on stderr, about failures (a dial that failed) that
// the process reports itself.
type silentRedis struct{}

func (silentRedis) Printf(context.Context, string, ...any) {}

// Run runs app with args (the flags, without the program name) and getenv
// for the environment, printing on stdout and logging on stderr, until its
// mode is done or ctx is cancelled (a signal: a graceful stop). It returns
// the exit code. Tests call it directly. It silences go-redis's own logger,
// whose plain-text lines would break the logs on stderr.
func Run(ctx context.Context, app App, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	goredis.SetLogger(silentRedis{})
	if app.Name == "" {
		app.Name = filepath.Base(os.Args[0])
	}
	p, err := parse(&app, args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case err != nil:
		if _, ours := errors.AsType[usageError](err); ours {
			fmt.Fprintf(stderr, "%s: %v\n", app.Name, err)
		}
		return ExitUsage
	}
	p.Stdout, p.Stderr, p.Log = stdout, stderr, newLogger(stderr, p.Settings)
	if p.otel, err = p.startTelemetry(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", app.Name, err)
		return ExitUsage
	}
	defer p.stopTelemetry()
	if app.Check != nil {
		if err := app.Check(p); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", app.Name, err)
			return ExitUsage
		}
	}
	l, err := p.listen()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", app.Name, err)
		return ExitFailed
	}
	defer l.close()
	r, err := p.runMode(ctx, l)
	if app.End != nil && (r.Mode != "" || err == nil) {
		if endErr := app.End(p, r); endErr != nil && err == nil {
			err = endErr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", app.Name, err)
		return exitCode(err)
	}
	return ExitOK
}

// newLogger returns the process's logger: with the trace and span ids of
// the organ's span on the lines logged in it, when traced.
func newLogger(w io.Writer, s Settings) *slog.Logger {
	opts := &slog.HandlerOptions{Level: s.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if s.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	if s.Traces != "" {
		h = necrotel.LogHandler(h)
	}
	return slog.New(h)
}

// runMode opens the backend and runs the mode. The Result is empty when
// the backend could not be opened.
func (p *Process) runMode(ctx context.Context, l *listener) (Result, error) {
	// The seeds first: a bad input is said before anything is opened.
	var seeds []core.Event
	if p.Mode == ModeRun || p.Mode == ModeEmit {
		var err error
		if seeds, err = p.seeds(); err != nil {
			return Result{}, err
		}
	}
	q, err := p.open(ctx)
	if err != nil {
		return Result{}, err
	}
	defer q.close()
	tel, err := p.otel.instrument(p, q.redis != nil)
	if err == nil {
		err = p.otel.observeStream(tel, q.parts)
	}
	if err != nil {
		return Result{}, err
	}
	p.mu.Lock()
	p.tel = tel
	p.mu.Unlock()
	l.setReady(q.ready)
	defer l.setReady(nil) // stopping: not ready
	r := Result{Mode: p.Mode, Stream: q.stream()}
	switch p.Mode {
	case ModeEmit:
		err = p.emit(ctx, q, seeds, &r)
	case ModeRedrive:
		err = p.redrive(ctx, q, &r)
	default:
		err = p.handle(ctx, q, seeds, &r)
	}
	r.Err = err
	return r, err
}

// handle runs a run or a worker: the Spine over the app's organs, seeded
// first in a run.
func (p *Process) handle(ctx context.Context, q *queue, seeds []core.Event, r *Result) error {
	organs, err := p.App.Organs(p)
	if err != nil {
		return err
	}
	cfg := core.Config{
		Concurrency: p.Concurrency, HandlerTimeout: p.HandlerTimeout, ShutdownTimeout: p.ShutdownTimeout,
		MaxSteps: core.NoStepLimit, Logger: p.Log,
	}
	if p.Mode == ModeRun {
		if err := q.prepare(ctx); err != nil {
			return p.redisError(err)
		}
		cfg.PullTimeout, cfg.MaxSteps = q.idle, 0
		switch n := p.App.StepsPerSeed; {
		case n == core.NoStepLimit:
			cfg.MaxSteps = core.NoStepLimit
		case n > 0:
			cfg.MaxSteps = (q.backlog + len(seeds)) * n
		}
	}
	if tel := p.Telemetry(); tel != nil {
		tel.Instrument(&cfg)
	}
	if p.App.Spine != nil {
		p.App.Spine(p, &cfg)
	}
	spine, err := core.NewSpine(q.backend, organs, cfg)
	if err != nil {
		return err
	}
	if err := p.enqueue(ctx, q, seeds, r); err != nil {
		return err
	}
	runCtx, finish := context.WithCancel(ctx)
	defer finish()
	if p.Mode == ModeRun {
		p.mu.Lock()
		p.finish = finish
		p.mu.Unlock()
	}
	if p.App.Begin != nil {
		p.App.Begin(p)
	}
	attrs := []slog.Attr{slog.String(keyMode, string(p.Mode)), slog.String(keyBackend, p.Backend),
		slog.Int(keyConcurrency, p.Concurrency), slog.Int(keySeeded, r.Seeded)}
	if q.redis != nil {
		attrs = append(attrs, slog.String(keyRedisURL, nsredis.RedactURL(p.RedisURL)), slog.String(keyStream, p.Stream),
			slog.String(keyGroup, p.Group), slog.String(keyConsumer, p.Consumer),
			slog.Float64(keyClaimMinIdle, float64(p.ClaimMinIdle)/float64(time.Millisecond)),
			slog.Int(keyPartitions, p.Partitions), slog.Bool(keyOrdered, p.Ordered))
	}
	p.Log.LogAttrs(ctx, slog.LevelInfo, "handling", attrs...)
	if p.Mode == ModeWorker {
		err = spine.Run(runCtx)
	} else {
		err = spine.RunUntilIdle(runCtx)
		r.Interrupted = ctx.Err() != nil && !p.finished()
	}
	r.Stats = spine.Stats()
	p.Log.LogAttrs(ctx, slog.LevelInfo, "stopped", slog.String(keyMode, string(p.Mode)),
		slog.Int64(keyPulled, r.Stats.Pulled), slog.Int64(core.KeyEmitted, r.Stats.Emitted),
		slog.Int64(keyFailed, r.Stats.Failed), slog.Int64(keyDeadLettered, r.Stats.DeadLettered))
	if p.Mode == ModeRun {
		// Listed even after an interrupt, for the app's report.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		dls, dlErr := q.deadLetters(lctx)
		cancel()
		r.DeadLetters = dls
		if err == nil && dlErr != nil {
			err = p.redisError(dlErr)
		}
	}
	if err == nil && r.Interrupted {
		err = errors.New("interrupted before the work was done")
	}
	return err
}

// enqueue enqueues seeds, counting them in r.
func (p *Process) enqueue(ctx context.Context, q *queue, seeds []core.Event, r *Result) error {
	for i, e := range seeds {
		if err := p.send(ctx, q.backend, e); err != nil {
			if ctx.Err() != nil {
				err = errors.New("interrupted")
			}
			err = fmt.Errorf("event %d of %d (%s) not enqueued (%d are): %w", i+1, len(seeds), e, r.Seeded, err)
			if q.redis != nil {
				return p.redisError(err)
			}
			return err
		}
		r.Seeded++
	}
	return nil
}

// emit enqueues the seeds and exits.
func (p *Process) emit(ctx context.Context, q *queue, seeds []core.Event, r *Result) error {
	if err := p.enqueue(ctx, q, seeds, r); err != nil {
		return err
	}
	if p.App.End == nil {
		fmt.Fprintf(p.Stdout, "enqueued %s to %s\n", plural(r.Seeded, "event"), r.Stream)
	}
	return nil
}

// redrive moves every dead letter back to the stream, and says how many;
// those that hold no event stay, each named on stderr.
func (p *Process) redrive(ctx context.Context, q *queue, r *Result) error {
	c := q.redis.Config()
	moved, err := q.redis.Redrive(ctx)
	r.Redriven = moved
	// The count is true whatever failed: each dead letter moves on its own.
	fmt.Fprintf(p.Stdout, "redrove %s from %s to %s\n", plural(moved, "dead letter"), c.DeadLetterStream, c.Stream)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return p.redisError(errors.New("redrive interrupted"))
	}
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		if errors.Is(e, nsredis.ErrNotRedrivable) {
			r.NotRedrivable++
		}
		fmt.Fprintf(p.Stderr, "%s: %v\n", p.App.Name, p.redisError(e))
	}
	if r.NotRedrivable > 0 {
		return fmt.Errorf("%s left in %s: they hold no event to hand back", plural(r.NotRedrivable, "dead letter"), c.DeadLetterStream)
	}
	return p.redisError(errors.New("some dead letters could not be redriven"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
