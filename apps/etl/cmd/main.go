// Command etl runs the NecroStack ETL demo: it loads a CSV of haunting
// reports, drops the invalid rows, aggregates the rest per location and
// prints a summary table on stdout. Logs go to stderr as JSON.
//
// Usage:
//
//	etl [-input FILE] [-log-level debug|info|warn|error]
//
// From the repository root: go run ./apps/etl/cmd -input hauntings.csv
//
// Without -input it reads the sample embedded in the organs package. It exits
// 0 on success, 1 when the input cannot be processed (a missing or unreadable
// file, a bad header, no valid rows) and 2 on bad flags.
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
	"strings"
	"syscall"
	"time"

	"github.com/necrostack/necrostack/apps/etl/organs"
	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// pullTimeout is short because the run ends after the first idle pull: it
// is how long the program lingers once the report is printed.
const pullTimeout = 20 * time.Millisecond

type config struct {
	input    string
	logLevel slog.Level
}

// run is the whole program, minus process state, and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if err := checkInput(cfg.input); err != nil {
		fmt.Fprintf(stderr, "etl: %v\n", err)
		return 1
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	dead, err := runChain(ctx, cfg, logger, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "etl: %v\n", err)
		return 1
	}
	for _, dl := range dead {
		who := dl.Organ
		if who == "" {
			who = dl.Reason
		}
		fmt.Fprintf(stderr, "etl: %s: %s\n", who, dl.Error)
	}
	if len(dead) > 0 {
		return 1
	}
	return 0
}

// parseFlags reports its errors on stderr itself, as package flag does.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := config{logLevel: slog.LevelInfo}
	fs := flag.NewFlagSet("etl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: etl [-input FILE] [-log-level LEVEL]\n\n")
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
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected argument %q: the input file goes in -input", fs.Arg(0))
		fmt.Fprintf(stderr, "etl: %v\n", err)
		return cfg, err
	}
	return cfg, nil
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

// runChain runs the chain to quiescence and returns the dead letters it left.
func runChain(ctx context.Context, cfg config, logger *slog.Logger, stdout io.Writer) ([]core.DeadLetter, error) {
	q, err := openQueue(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer q.close()

	spine, err := core.NewSpine(q.backend, organs.Chain(stdout), core.Options{PullTimeout: pullTimeout, Logger: logger})
	if err != nil {
		return nil, err
	}
	start, err := organs.ETLStart.New(organs.Job{Path: cfg.input})
	if err != nil {
		return nil, err
	}
	if err := spine.Enqueue(ctx, start); err != nil {
		return nil, err
	}
	if err := spine.RunUntilIdle(ctx); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, errors.New("interrupted")
	}
	return q.deadLetters(ctx)
}

// queue is the backend of a run and what the command needs of it besides.
// The backend is a field, not embedded: the Spine discovers optional
// capabilities (Committer, Releaser, ...) by type assertion, which a wrapper
// would hide.
type queue struct {
	backend     core.Backend
	deadLetters func(context.Context) ([]core.DeadLetter, error)
	close       func() error
}

// openQueue is the one place that chooses the backend.
func openQueue(_ context.Context, _ config) (*queue, error) {
	b := memory.New(memory.Options{})
	return &queue{
		backend:     b,
		deadLetters: func(context.Context) ([]core.DeadLetter, error) { return b.DeadLetters(), nil },
		close:       b.Close,
	}, nil
}
