package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/necrostack/necrostack/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the command: it parses args, runs the benchmark and prints one JSON
// line on stdout, errors on stderr. It returns the exit code: 0 on success, 1
// when the run failed or came out wrong, 2 for a bad command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := bench.Run(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "necrobench %s/%s: %v\n", cfg.System, cfg.Backend, err)
		return 1
	}
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(stderr, "necrobench: %v\n", err)
		return 1
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (bench.Config, error) {
	var cfg bench.Config
	fs := flag.NewFlagSet("necrobench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: necrobench [flags]\n\n"+
			"Runs the séance chain (four organs, small JSON payloads) for N rituals on\n"+
			"NecroStack or Watermill, in memory or on Redis, and prints one JSON line.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.System, "system", bench.SystemNecrostack, "system under test: necrostack or watermill")
	fs.StringVar(&cfg.Backend, "backend", bench.BackendMemory, "memory (NecroStack's memory backend, Watermill's GoChannel) or redis (NecroStack's Redis Streams backend, watermill-redisstream)")
	fs.IntVar(&cfg.Rituals, "rituals", bench.DefaultRituals, "rituals to run, four organ calls each")
	fs.IntVar(&cfg.Concurrency, "concurrency", 1, "NecroStack: Options.Concurrency; Watermill on redis: handlers (consumers) per stage; Watermill on memory: must be 1")
	fs.IntVar(&cfg.Window, "window", bench.DefaultWindow, "with -rate 0: most rituals in flight (enqueued, omen not yet recorded)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "rituals per second on a fixed schedule, for latency; 0: as fast as the system takes them, within -window")
	fs.StringVar(&cfg.RedisURL, "redis-url", "", "redis://[user:password@]host:port[/db]; required with -backend redis")
	fs.StringVar(&cfg.Persistence, "persistence", "none", "the Redis server's persistence, as a label for the output (starting the server is the caller's business)")
	fs.StringVar(&cfg.Stream, "stream", "", "Redis stream key (Watermill: prefix of its four streams); must not exist; deleted at the end (default a fresh key per run)")
	fs.DurationVar(&cfg.Stall, "stall", bench.DefaultStall, "fail when no omen arrives for this long")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed part to this file")
	fs.StringVar(&cfg.MemProfile, "memprofile", "", "write the allocation profile, as of the last omen, to this file")
	fs.DurationVar(&cfg.HandlerDelay, "handler-delay", 0, "each organ (handler) of both systems waits this long, honouring its context, as an I/O call would (e.g. 1ms)")
	fs.StringVar(&cfg.OTel, "otel", bench.OTelOff, "NecroStack with OpenTelemetry, for its overhead: off, metrics, sampled (the metrics, and 1% of spans) or all (the metrics, and every span); spans are batched, then dropped")
	fs.IntVar(&cfg.Partitions, "partitions", 1, "NecroStack on redis: partitions of the stream (shared mode), the seeds spread over them in turn")
	fs.BoolVar(&cfg.Ordered, "ordered", false, "NecroStack on redis: the partitions in ordered mode, the seeds keyed (1024 keys)")
	fs.BoolVar(&cfg.Phases, "phases", false, "NecroStack: also measure where each event's time goes, stage by stage (read, dispatch, organ, commit), with the Spine's Observer; slows the run")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "with -rate: the rituals due in this first part of the run are run and checked but left out of p50, p99 and p99.9 (warmup_p50_ms and warmup_p99_ms are theirs), so that those are of the steady state")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	err := cfg.Validate()
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	case cfg.Rituals < 1: // 0 means the default to bench.Config, not here
		err = fmt.Errorf("rituals %d: must be at least 1", cfg.Rituals)
	case cfg.Concurrency < 1:
		err = fmt.Errorf("concurrency %d: must be at least 1", cfg.Concurrency)
	case cfg.Window < 1:
		err = fmt.Errorf("window %d: must be at least 1", cfg.Window)
	case cfg.Stall <= 0:
		err = fmt.Errorf("stall %v: must be positive", cfg.Stall)
	}
	if err != nil {
		fmt.Fprintf(stderr, "necrobench: %v\n", err)
		return cfg, err
	}
	return cfg, nil
}
