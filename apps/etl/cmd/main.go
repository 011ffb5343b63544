// Command etl runs the NecroStack ETL demo: it loads a CSV of haunting
// reports, drops the invalid rows, aggregates the rest per location and
// prints a summary table on stdout. Logs go to stderr as JSON.
//
// Usage:
//
//	etl [-input FILE] [-log-level debug|info|warn|error]
//	    [-backend memory|redis] [-mode run|worker|emit]
//	    [-redis-url URL] [-stream KEY] [-group NAME] [-consumer NAME]
//
// From the repository root: go run ./apps/etl/cmd -input hauntings.csv
//
// Without -input a job reads the sample embedded in the organs package.
//
// # Modes
//
// -mode run, the default, enqueues one job for -input, runs the chain until
// that job is done, prints its summary and exits.
//
// -mode worker handles jobs from the stream until SIGINT or SIGTERM, printing
// each report as it is written, and exits 0. It needs -backend redis; it
// does not take -input, as each job names its file.
//
// -mode emit enqueues one job for -input and exits, printing
// "enqueued job <id> to <stream>". It needs -backend redis. The path is made
// absolute, so that workers started in other directories find the file.
//
// # Backends
//
// -backend memory, the default, keeps the events in the process.
//
// -backend redis keeps them in a Redis stream: -stream (default
// necrostack:etl, so the ETL and séance demos never share one), read through
// the consumer group -group (default necrostack) as consumer -consumer
// (default: a name unique to the process). Dead letters go to the stream
// <stream>:dlq. -redis-url locates the server (default $NECROSTACK_REDIS_URL,
// else redis://localhost:6379/0); errors and logs show it without the
// password. Run and emit give up after 5s when Redis does not answer; a
// worker warns and keeps trying.
//
// An event on Redis holds at most 64 MiB. The Extractor's limits stay those of
// the organs package (8 MiB, 100,000 rows), the same on both backends, and
// 64 MiB holds any such text file as JSON; a file dense in characters JSON
// escapes to six bytes (<, >, &, control characters) may not fit, and the job
// then fails with a dead letter that says so.
//
// # Jobs on a shared stream
//
// A job is identified by the id of its ETL_START event, which every later
// event of the job carries. On Redis, -mode run shares the stream and the
// group with whatever else uses them: it handles the other jobs' events it
// meets on the way, and prints their reports too, but only its own job
// decides the exit status, and only that job's dead letters are printed.
// The run stops as soon as its job is done; what is left on the stream waits
// there for the next run or worker. Run mode is meant for a stream without
// workers: if a worker takes part of the job, the report is printed there and
// the run exits 1 saying so. With workers, use -mode emit.
//
// One emitter and two workers:
//
//	export NECROSTACK_REDIS_URL=redis://localhost:6379/0
//	etl -backend redis -mode worker >worker1.txt &
//	etl -backend redis -mode worker >worker2.txt &
//	etl -backend redis -mode emit -input hauntings.csv
//	etl -backend redis -mode emit   # the embedded sample
//	kill -TERM %1 %2
//
// # Exit status
//
// 0 on success (and for a worker stopped by a signal); 1 when the input
// cannot be processed (a missing or unreadable file, a bad header, no valid
// rows), when Redis cannot be reached by run or emit, or when the run is
// interrupted; 2 on bad flags.
package main

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
	"slices"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"github.com/necrostack/necrostack/apps/etl/organs"
	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
)

func main() {
	// go-redis prints its own plain-text lines on stderr (a failed dial,
	// once per attempt), repeating what the command and the Spine already
	// report: one line per failure, JSON logs per outage.
	logging.Disable()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// pullTimeout is short because the run ends after the first idle pull: it
// is how long the program lingers once the report is printed.
const pullTimeout = 20 * time.Millisecond

const (
	backendMemory = "memory"
	backendRedis  = "redis"

	modeRun    = "run"
	modeWorker = "worker"
	modeEmit   = "emit"

	envRedisURL     = "NECROSTACK_REDIS_URL"
	defaultRedisURL = "redis://localhost:6379/0"
	defaultStream   = "necrostack:etl"
)

type config struct {
	input    string
	logLevel slog.Level
	backend  string
	mode     string

	// Redis only.
	redisURL  string // as given, for messages once redacted
	redisOpts *goredis.Options
	stream    string
	group     string
	consumer  string
}

// run is the whole program, minus process state, and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	switch cfg.mode {
	case modeWorker:
		err = work(ctx, cfg, logger, stdout)
	case modeEmit:
		err = emit(ctx, cfg, logger, stdout)
	default:
		err = runJob(ctx, cfg, logger, stdout, stderr)
	}
	if err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintf(stderr, "etl: %s\n", nsredis.Redact(err.Error(), cfg.redisURL))
		}
		return 1
	}
	return 0
}

// errReported is a failure already explained on stderr.
var errReported = errors.New("failure reported")

// parseFlags reports its errors on stderr itself, as package flag does.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := config{logLevel: slog.LevelInfo, backend: backendMemory, mode: modeRun}
	fs := flag.NewFlagSet("etl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: etl [-input FILE] [-log-level LEVEL] [-backend memory|redis] [-mode run|worker|emit]\n"+
			"           [-redis-url URL] [-stream KEY] [-group NAME] [-consumer NAME]\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.input, "input", "", "CSV `file` to load (default: the embedded sample of haunting reports)")
	fs.Func("log-level", "log `level` on stderr: debug, info, warn or error (default info)", func(s string) error {
		levels := map[string]slog.Level{
			"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
		}
		l, ok := levels[strings.ToLower(s)]
		if !ok {
			return errors.New("want debug, info, warn or error")
		}
		cfg.logLevel = l
		return nil
	})
	fs.Func("backend", "`backend` of the events: memory or redis (default memory)", oneOf(&cfg.backend, backendMemory, backendRedis))
	fs.Func("mode", "`mode`: run (one job, to its end), worker (the stream's jobs, until stopped) or emit (enqueue one job) (default run)",
		oneOf(&cfg.mode, modeRun, modeWorker, modeEmit))
	var rawURL string
	fs.StringVar(&rawURL, "redis-url", "", "Redis `URL`, redis:// or rediss:// (default $"+envRedisURL+", else "+defaultRedisURL+")")
	fs.StringVar(&cfg.stream, "stream", defaultStream, "Redis stream `key`; dead letters go to <key>:dlq")
	fs.StringVar(&cfg.group, "group", nsredis.DefaultGroup, "Redis consumer `group`")
	fs.StringVar(&cfg.consumer, "consumer", "", "consumer `name` in the group (default: unique to the process); never the same for two live workers")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fail := func(format string, args ...any) (config, error) {
		err := fmt.Errorf(format, args...)
		fmt.Fprintf(stderr, "etl: %v\n", err)
		return cfg, err
	}

	if fs.NArg() > 0 {
		return fail("unexpected argument %q: the input file goes in -input", fs.Arg(0))
	}
	if cfg.backend == backendMemory {
		if cfg.mode != modeRun {
			return fail("-mode %s needs -backend redis: the in-memory backend lives and dies with one process", cfg.mode)
		}
		for _, name := range []string{"redis-url", "stream", "group", "consumer"} {
			if set[name] {
				return fail("-%s needs -backend redis", name)
			}
		}
		return cfg, nil
	}

	switch {
	case cfg.mode == modeWorker && set["input"]:
		return fail("-input is for -mode run and emit: a worker reads the file each job names")
	case cfg.stream == "":
		return fail("-stream: must not be empty")
	case cfg.group == "":
		return fail("-group: must not be empty")
	case set["consumer"] && cfg.consumer == "":
		return fail("-consumer: must not be empty (leave it out for a name unique to the process)")
	case set["redis-url"] && rawURL == "":
		return fail("-redis-url: must not be empty")
	}
	source := "-redis-url"
	if !set["redis-url"] {
		source, rawURL = envRedisURL, getenv(envRedisURL)
		if rawURL == "" {
			source, rawURL = "default -redis-url", defaultRedisURL
		}
	}
	opts, err := goredis.ParseURL(rawURL)
	if err != nil {
		return fail("%s %s: %s", source, nsredis.RedactURL(rawURL), nsredis.Redact(err.Error(), rawURL))
	}
	nsredis.ClientDefaults(opts)
	cfg.redisURL, cfg.redisOpts = rawURL, opts
	return cfg, nil
}

// oneOf is a flag.Func that takes one of values.
func oneOf(dst *string, values ...string) func(string) error {
	return func(s string) error {
		if !slices.Contains(values, s) {
			last := len(values) - 1
			return fmt.Errorf("want %s or %s", strings.Join(values[:last], ", "), values[last])
		}
		*dst = s
		return nil
	}
}

// checkInput fails fast, with a plain one-line message, on a file the
// Extractor could not read either; the dead letters would say the same, less
// kindly.
func checkInput(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.IsDir() {
		return fmt.Errorf("%s is a directory, want a CSV file", path)
	}
	return nil
}

// jobInput checks -input and returns the path a job should carry: absolute
// on Redis, where another process, in another directory, may read it.
func jobInput(cfg config) (string, error) {
	if err := checkInput(cfg.input); err != nil {
		return "", err
	}
	if cfg.backend != backendRedis || cfg.input == "" {
		return cfg.input, nil
	}
	return filepath.Abs(cfg.input)
}

// runJob runs one job to its end and reports how it went: its summary on
// stdout, or its dead letters on stderr.
func runJob(ctx context.Context, cfg config, logger *slog.Logger, stdout, stderr io.Writer) error {
	q, start, err := openJob(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer q.close()

	// The run stops as soon as its job is done, even if the stream holds
	// more: on Redis it may never be idle.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	watch := newJobWatch(start.ID(), stopRun)
	opts := core.Config{PullTimeout: pullTimeout, Logger: logger, Retry: core.RetryPolicy{MaxAttempts: maxAttempts}}
	if cfg.backend == backendRedis {
		// The chain cannot loop, but the stream may hold a backlog of
		// other jobs to get through first.
		opts.MaxSteps = core.NoStepLimit
	}
	spine, err := core.NewSpine(q.backend, wrap(organs.Chain(stdout), q.maxEventBytes, watch.observe), opts)
	if err != nil {
		return err
	}
	mark, err := q.mark(ctx)
	if err != nil {
		return err
	}
	if err := spine.Enqueue(ctx, start); err != nil {
		return err
	}
	if err := spine.RunUntilIdle(runCtx); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errInterrupted
	}

	dead, err := q.deadLetters(ctx, mark, start.ID())
	if err != nil {
		return err
	}
	for _, dl := range dead {
		who := dl.Organ
		if who == "" {
			who = dl.Reason
		}
		fmt.Fprintf(stderr, "etl: %s: %s\n", who, nsredis.Redact(dl.Error, cfg.redisURL))
	}
	if len(dead) > 0 {
		return errReported
	}
	reported, failed := watch.result()
	switch {
	case failed != "":
		// Seen failing, but no dead letter: the commit of the failure was
		// lost to another consumer, which handles the event again.
		return errors.New(failed)
	case !reported:
		return fmt.Errorf("job %s did not finish here: another consumer of group %q on %s took part of it, and reports there (with workers running, use -mode emit)",
			start.ID(), cfg.group, cfg.stream)
	}
	return nil
}

// work handles the jobs of the stream until ctx is cancelled.
func work(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) error {
	q, err := openQueue(ctx, cfg, logger)
	if errors.Is(err, errInterrupted) {
		return nil // stopped while still waiting for Redis
	}
	if err != nil {
		return err
	}
	defer q.close()
	logReports := func(_ string, e core.Event, err error) {
		if err == nil && e.Type() == organs.DataTransformed.Type() {
			logger.LogAttrs(ctx, slog.LevelInfo, "report written", slog.String("job_id", organs.JobOf(e)))
		}
	}
	spine, err := core.NewSpine(q.backend, wrap(organs.Chain(stdout), q.maxEventBytes, logReports), core.Config{
		MaxSteps: core.NoStepLimit,
		Logger:   logger,
		Retry:    core.RetryPolicy{MaxAttempts: maxAttempts},
	})
	if err != nil {
		return err
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "worker started", q.describe...)
	if err := spine.Run(ctx); err != nil {
		return err
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "worker stopped", q.describe...)
	return nil
}

// openJob checks the input, opens the queue and builds the job's ETL_START
// event; the caller closes the queue.
func openJob(ctx context.Context, cfg config, logger *slog.Logger) (*queue, core.Event, error) {
	input, err := jobInput(cfg)
	if err != nil {
		return nil, core.Event{}, err
	}
	q, err := openQueue(ctx, cfg, logger)
	if err != nil {
		return nil, core.Event{}, err
	}
	start, err := organs.ETLStart.New(organs.Job{Path: input})
	if err != nil {
		q.close()
		return nil, core.Event{}, err
	}
	return q, start, nil
}

// emit enqueues one job for workers.
func emit(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) error {
	q, start, err := openJob(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer q.close()
	if err := q.backend.Enqueue(ctx, start); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "enqueued job %s to %s\n", start.ID(), cfg.stream)
	return nil
}
