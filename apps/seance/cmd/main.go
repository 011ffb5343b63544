// Command seance runs the séance demo: each ritual summons a spirit, hears
// its answer and reveals an omen, through a NecroStack Spine.
//
// Usage:
//
//	seance [-question text]... [-seeker name] [-rituals n] [-concurrency n] [-log-level level]
//
// The séance is printed on stdout, logs go to stderr as JSON. The exit status
// is 0 when every ritual printed exactly one omen, 1 when the séance failed
// or was interrupted, and 2 for bad flags.
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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/necrostack/necrostack/apps/seance/organs"
	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/core"
)

const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// maxRituals bounds -rituals: the in-memory queue holds every summons at
// once.
const maxRituals = 100_000

// stepsPerRitual is the length of the chain: SUMMON_RITUAL, SPIRIT_APPEARED,
// ANSWER_GENERATED and OMEN_REVEALED. Any step beyond rituals ×
// stepsPerRitual would be a loop, so that is the Spine's MaxSteps.
const stepsPerRitual = 4

var defaultQuestions = []string{
	"Will the harvest be kind this year?",
	"Who walks the east corridor at midnight?",
	"Should I open the letter from my brother?",
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type config struct {
	questions   []string
	seeker      string
	rituals     int
	concurrency int
	level       slog.Level
}

// questionList collects the repeated -question flag.
type questionList []string

func (q *questionList) String() string     { return strings.Join(*q, " | ") }
func (q *questionList) Set(s string) error { *q = append(*q, s); return nil }

// reportedError is a flag error the flag package has already printed, with
// the usage.
type reportedError struct{ error }

var levels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// parseFlags returns the configuration args describe. Errors name the flag;
// flag.ErrHelp means -h was asked for.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	cfg := config{level: slog.LevelWarn}
	var questions questionList
	fs := flag.NewFlagSet("seance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: seance [flags]\n\nHolds a séance on the in-memory backend and prints it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Var(&questions, "question", "a `question` for the spirits; repeat for more (default: "+strings.Join(defaultQuestions, " | ")+")")
	fs.StringVar(&cfg.seeker, "seeker", "Mina", "the `name` of the one who asks")
	fs.IntVar(&cfg.rituals, "rituals", 0, "number of rituals, cycling through the questions (default: one per question)")
	fs.IntVar(&cfg.concurrency, "concurrency", 1, "rituals handled at once")
	fs.Func("log-level", "`level` of the JSON logs on stderr: debug, info, warn or error (default warn)", func(s string) error {
		l, ok := levels[strings.ToLower(s)]
		if !ok {
			return errors.New("must be debug, info, warn or error")
		}
		cfg.level = l
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, reportedError{err}
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q: questions go in -question", fs.Arg(0))
	}
	cfg.questions = questions
	if len(cfg.questions) == 0 {
		cfg.questions = slices.Clone(defaultQuestions)
	}
	ritualsSet := false
	fs.Visit(func(f *flag.Flag) { ritualsSet = ritualsSet || f.Name == "rituals" })
	if !ritualsSet {
		cfg.rituals = len(cfg.questions)
	}
	switch {
	case cfg.rituals < 1:
		return cfg, fmt.Errorf("-rituals %d: must be at least 1", cfg.rituals)
	case cfg.rituals > maxRituals:
		return cfg, fmt.Errorf("-rituals %d: must be at most %d", cfg.rituals, maxRituals)
	case cfg.concurrency < 1:
		return cfg, fmt.Errorf("-concurrency %d: must be at least 1", cfg.concurrency)
	}
	// The organs' own validation, so the flags fail here rather than as dead
	// letters; its field names are the flag names.
	for _, q := range cfg.questions {
		err := organs.Ritual{Number: 1, Seeker: cfg.seeker, Question: q}.Validate()
		if fe, ok := errors.AsType[*organs.FieldError](err); ok {
			value := q
			if fe.Field == "seeker" {
				value = cfg.seeker
			}
			return cfg, fmt.Errorf("-%s %q: %s", fe.Field, value, fe.Reason)
		}
		if err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// openBackend returns the backend the séance runs on, and how long an empty
// pull must wait before the séance counts as finished. It is the one place
// to add another backend.
func openBackend(config) (core.Backend, time.Duration, error) {
	// Only this process feeds the in-memory queue, so once it has stayed
	// empty briefly with nothing in flight, the chain is done.
	return memory.New(memory.Options{}), 20 * time.Millisecond, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		if _, reported := errors.AsType[reportedError](err); !reported {
			fmt.Fprintf(stderr, "seance: %v\n", err)
		}
		return exitUsage
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.level}))

	backend, idle, err := openBackend(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "seance: backend: %v\n", err)
		return exitFail
	}
	if c, ok := backend.(io.Closer); ok {
		defer c.Close()
	}
	all, scribe := organs.All(stdout)
	spine, err := core.NewSpine(backend, all, core.Options{
		Concurrency: cfg.concurrency,
		MaxSteps:    cfg.rituals * stepsPerRitual,
		PullTimeout: idle,
		Logger:      log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "seance: %v\n", err)
		return exitFail
	}
	for n := 1; n <= cfg.rituals; n++ {
		q := cfg.questions[(n-1)%len(cfg.questions)]
		e, err := organs.SummonRitual.New(organs.Ritual{Number: n, Seeker: cfg.seeker, Question: q})
		if err == nil {
			err = spine.Enqueue(ctx, e)
		}
		if err != nil {
			fmt.Fprintf(stderr, "seance: summon ritual %d: %v\n", n, err)
			return exitFail
		}
	}
	log.Info("séance begins", slog.Int("rituals", cfg.rituals), slog.Int("concurrency", cfg.concurrency))

	fmt.Fprintf(stdout, "The candles are lit. %s takes a seat at the table.\n\n", cfg.seeker)
	runErr := spine.RunUntilIdle(ctx)
	omens := scribe.Omens()
	stats := spine.Stats()
	fmt.Fprintln(stdout, summary(cfg.rituals, omens, stats.DeadLettered))
	log.Info("séance ends", slog.Int64("pulled", stats.Pulled), slog.Int64("emitted", stats.Emitted),
		slog.Int64("failed", stats.Failed), slog.Int64("dead_lettered", stats.DeadLettered))

	if runErr != nil {
		fmt.Fprintf(stderr, "seance: %v\n", runErr)
		return exitFail
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "seance: interrupted: %d of %d rituals revealed their omen\n", len(omens), cfg.rituals)
		return exitFail
	}
	if err := audit(cfg.rituals, omens); err != nil {
		fmt.Fprintf(stderr, "seance: incomplete: %v\n", err)
		if d, ok := backend.(interface{ DeadLetters() []core.DeadLetter }); ok {
			for _, dl := range d.DeadLetters() {
				fmt.Fprintf(stderr, "seance: dead letter: %s organ=%s reason=%s: %s\n", dl.Event.Type(), dl.Organ, dl.Reason, dl.Error)
			}
		}
		return exitFail
	}
	return exitOK
}

// audit reports whether rituals 1 to n each printed exactly one omen.
func audit(n int, omens map[int]int) error {
	var missing, repeated []int
	for i := 1; i <= n; i++ {
		switch c := omens[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			repeated = append(repeated, i)
		}
	}
	var stray []int
	for i := range omens {
		if i < 1 || i > n {
			stray = append(stray, i)
		}
	}
	slices.Sort(stray)
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("no omen for rituals %v", missing))
	}
	if len(repeated) > 0 {
		errs = append(errs, fmt.Errorf("more than one omen for rituals %v", repeated))
	}
	if len(stray) > 0 {
		errs = append(errs, fmt.Errorf("omens for unknown rituals %v", stray))
	}
	return errors.Join(errs...)
}

func summary(rituals int, omens map[int]int, dead int64) string {
	total := 0
	for _, c := range omens {
		total += c
	}
	s := plural(rituals, "ritual") + ", " + plural(total, "omen")
	if dead > 0 {
		s += ", " + plural(int(dead), "dead letter")
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
