// Command seance runs the séance demo: each ritual summons a spirit, hears
// its answer and reveals an omen, through a NecroStack Spine, on the
// in-memory backend or on a Redis stream shared by many worker processes.
//
// Usage:
//
//	seance [flags]
//
// The séance is printed on stdout, logs go to stderr as JSON.
//
// # Modes
//
// -mode run, the default, enqueues the rituals, handles them until the chain
// is complete and prints the séance. It exits 0 only if every ritual of this
// run printed exactly one omen.
//
// -mode emit (Redis only) enqueues the rituals and exits, printing
// "enqueued N rituals (séance ID) to STREAM".
//
// -mode worker (Redis only) handles whatever rituals are in the stream,
// printing each as its omen is revealed, until SIGINT or SIGTERM: then it
// lets the rituals in flight finish, hands back what it had read but not
// handled, and exits 0. A worker may start before Redis does: it warns and
// keeps trying. Workers sharing a -group share the work; each event is
// handled by one of them (at least once: a worker that dies leaves its
// entries to be reclaimed by another, once they have sat unacknowledged for
// -claim-min-idle).
//
// -mode redrive (Redis only) moves every dead letter of the stream back to
// it, as a new entry holding the same event, for the workers to handle
// again (once what made them fail is fixed), and prints
// "redrove N dead letters from STREAM:dlq to STREAM". Dead letters that hold
// no event (an entry that was not one) cannot be redriven: they stay, each is
// reported on stderr and the command exits 1. It leaves the consumer groups
// alone.
//
// # Fault injection
//
// For tests and demos of dead letters and redrive, -fail-organ NAME
// -fail-every N make one organ of a run or a worker (Summoner, Medium,
// Oracle or Scribe) fail on every ritual whose number is a multiple of N,
// with an ordinary, retryable error:
//
//	injected fault: Oracle fails on every 10th ritual (ritual 20)
//
// The Spine retries it (3 attempts) and then dead-letters the event for that
// organ with reason handler_failed; the other rituals complete. A run then
// exits 1, listing those rituals and their dead letters.
//
// # Séances
//
// Every run or emit on Redis is a séance with its own id, random unless
// -seance sets it, carried by each of its rituals and printed in their
// header:
//
//	Ritual 7 (séance 3fa9c2d1) — Mina asks: "Who walks the east corridor at midnight?"
//
// Ritual numbers go from 1 to -rituals in every séance, so the output of
// several workers can be merged and audited: each (séance, number) must
// appear exactly once. The id never changes what the spirits say: the same
// seeker asking the same question always gets the same answer.
//
// A run on Redis handles and prints every event it finds in the stream,
// including those other séances left there, but only its own rituals count
// for its exit status; dead letters added while it ran are listed on stderr,
// and one of its own fails it. A run expects to be the only consumer of its
// group: to share the work with workers, emit instead.
//
// # Flags
//
//	-mode run|worker|emit|redrive
//	                         what to do (default run)
//	-backend memory|redis    where events live (default memory)
//	-redis-url URL           redis:// or rediss:// URL, with user and password if needed
//	                         (default $NECROSTACK_REDIS_URL, else redis://localhost:6379/0)
//	-stream KEY              the stream (default necrostack:seance); dead letters go to KEY:dlq
//	-group NAME              the consumer group (default necrostack)
//	-consumer NAME           this process in the group (default hostname-pid-random);
//	                         never the same for two live workers
//	-seance ID               the séance id of a run or emit: letters, digits, - and _
//	                         (default random on redis, none on memory)
//	-question TEXT           a question; repeat for more (default three questions)
//	-seeker NAME             who asks (default Mina)
//	-rituals N               rituals to hold, cycling through the questions (default one per question)
//	-concurrency N           rituals handled at once by a run or a worker (default 1)
//	-claim-min-idle D        how long an entry must sit unacknowledged, read by a worker
//	                         that died, before another worker reclaims it (default 30s)
//	-fail-organ NAME         with -fail-every, the organ that fails (fault injection)
//	-fail-every N            the organ fails on rituals N, 2N, 3N...
//	-log-level LEVEL         debug, info, warn or error (default warn)
//
// Flags that would have no effect are refused: -rituals with -mode worker,
// -stream with -backend memory, -group with -mode redrive, and so on.
//
// # Example
//
// Two workers sharing the work of one séance:
//
//	go build -o seance ./apps/seance/cmd
//	export NECROSTACK_REDIS_URL=redis://localhost:6379/0
//	seance -backend redis -mode emit -rituals 200
//	seance -backend redis -mode worker -consumer alice > alice.txt &
//	seance -backend redis -mode worker -consumer bob > bob.txt &
//	# ... once 200 omens are printed:
//	kill -TERM %1 %2
//	cat alice.txt bob.txt | grep -c '^Ritual '
//
// Workers whose Oracle fails on every tenth ritual, then the fix:
//
//	seance -backend redis -mode worker -fail-organ Oracle -fail-every 10 &
//	seance -backend redis -mode emit -rituals 100
//	# ... once 90 omens are printed and 10 dead letters are in necrostack:seance:dlq:
//	kill -TERM %1
//	seance -backend redis -mode worker &
//	seance -backend redis -mode redrive
//	# redrove 10 dead letters from necrostack:seance:dlq to necrostack:seance
//
// # Exit status
//
// 0 when the séance is complete (run), the rituals are enqueued (emit), the
// worker was stopped by a signal or every dead letter was redriven
// (redrive); 1 when the séance failed or was interrupted, some dead letters
// could not be redriven, or Redis could not be reached by a run, an emit or
// a redrive; 2 for bad flags.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/apps/seance/organs"
	nsredis "github.com/necrostack/necrostack/backends/redis"
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

// Values of -backend and -mode.
const (
	backendMemory = "memory"
	backendRedis  = "redis"

	modeRun     = "run"
	modeWorker  = "worker"
	modeEmit    = "emit"
	modeRedrive = "redrive"
)

const (
	defaultRedisURL = "redis://localhost:6379/0"
	// envRedisURL supplies -redis-url when the flag is not given, so a
	// password need not appear in the process list.
	envRedisURL = "NECROSTACK_REDIS_URL"
	// defaultStream keeps the séance apart from the other demos sharing a
	// Redis.
	defaultStream = "necrostack:seance"
)

var defaultQuestions = []string{
	"Will the harvest be kind this year?",
	"Who walks the east corridor at midnight?",
	"Should I open the letter from my brother?",
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal stops gracefully; restoring the default handling
	// then lets a second one kill a shutdown that takes too long.
	context.AfterFunc(ctx, stop)
	goredis.SetLogger(silentRedis{})
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// silentRedis drops the lines go-redis logs on its own: plain text that
// would break the JSON on stderr, about failures (a dial that failed) that
// the command reports itself, as a run's error or the Spine's warnings.
type silentRedis struct{}

func (silentRedis) Printf(context.Context, string, ...any) {}

type config struct {
	mode        string
	backend     string
	questions   []string
	seeker      string
	rituals     int
	concurrency int
	level       slog.Level
	// seance is the id the rituals of a run or emit carry: random on
	// Redis unless -seance is given, none on memory.
	seance string
	// fault is what -fail-organ and -fail-every inject: none by default.
	fault fault
	redis redisConfig
}

type redisConfig struct {
	url      string // as given: print it only through nsredis.RedactURL
	options  *goredis.Options
	stream   string
	group    string
	consumer string // "" for the backend's unique default
	// claimMinIdle is how long an entry must stay unacknowledged before
	// another consumer reclaims it.
	claimMinIdle time.Duration
}

// questionList collects the repeated -question flag.
type questionList []string

func (q *questionList) String() string     { return strings.Join(*q, " | ") }
func (q *questionList) Set(s string) error { *q = append(*q, s); return nil }

// choice is a flag that takes one of a few words.
type choice struct {
	value   string
	allowed []string
}

func (c *choice) String() string {
	if c == nil {
		return ""
	}
	return c.value
}

func (c *choice) Set(s string) error {
	if !slices.Contains(c.allowed, s) {
		return fmt.Errorf("must be %s or %s", strings.Join(c.allowed[:len(c.allowed)-1], ", "), c.allowed[len(c.allowed)-1])
	}
	c.value = s
	return nil
}

// reportedError is a flag error the flag package has already printed, with
// the usage.
type reportedError struct{ error }

var levels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// parseFlags returns the configuration args describe, taking what they leave
// out from getenv. Errors name the flag; flag.ErrHelp means -h was asked
// for.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := config{level: slog.LevelWarn}
	var questions questionList
	mode := choice{value: modeRun, allowed: []string{modeRun, modeWorker, modeEmit, modeRedrive}}
	backend := choice{value: backendMemory, allowed: []string{backendMemory, backendRedis}}
	failOrgan := choice{allowed: organNames()}
	fs := flag.NewFlagSet("seance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: seance [flags]\n\n"+
			"Holds a séance and prints it (-mode run), or, on Redis, enqueues one for\n"+
			"workers (-mode emit), works on what is enqueued until stopped (-mode worker)\n"+
			"or hands the dead letters back to the stream (-mode redrive).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Var(&mode, "mode", "`name` of what to do: run (hold a séance and print it), worker (handle rituals until SIGINT or SIGTERM; redis only), "+
		"emit (enqueue rituals and exit; redis only) or redrive (move every dead letter of the stream back to it, to be handled again; redis only)")
	fs.Var(&backend, "backend", "`name` of where events live: memory (this process only) or redis")
	fs.StringVar(&cfg.redis.url, "redis-url", "", "Redis `URL`: redis:// or rediss://, with user and password if needed (default $"+envRedisURL+", else "+defaultRedisURL+")")
	fs.StringVar(&cfg.redis.stream, "stream", defaultStream, "Redis stream `key`; dead letters go to key:dlq")
	fs.StringVar(&cfg.redis.group, "group", nsredis.DefaultGroup, "Redis consumer group `name`")
	fs.StringVar(&cfg.redis.consumer, "consumer", "", "`name` of this process in the group (default: hostname-pid-random, unique per process); never the same for two live workers")
	fs.StringVar(&cfg.seance, "seance", "", "`id` of this séance, printed in its rituals' headers: letters, digits, - and _ (default: random on redis, none on memory)")
	fs.Var(&questions, "question", "a `question` for the spirits; repeat for more (default: "+strings.Join(defaultQuestions, " | ")+")")
	fs.StringVar(&cfg.seeker, "seeker", "Mina", "the `name` of the one who asks")
	fs.IntVar(&cfg.rituals, "rituals", 0, "number of rituals, cycling through the questions (default: one per question)")
	fs.IntVar(&cfg.concurrency, "concurrency", 1, "rituals handled at once")
	fs.DurationVar(&cfg.redis.claimMinIdle, "claim-min-idle", nsredis.DefaultClaimMinIdle,
		"how long an entry must sit unacknowledged, read by a worker that died, before another worker of the group reclaims it: "+
			"longer than handling a ritual ever takes (redis only)")
	fs.Var(&failOrgan, "fail-organ", "fault injection, for tests and demos: the `organ` ("+strings.Join(failOrgan.allowed, ", ")+
		") that fails on every ritual whose number is a multiple of -fail-every, with a retryable error, so that those rituals are dead-lettered")
	fs.IntVar(&cfg.fault.every, "fail-every", 0, "with -fail-organ: the organ fails on rituals `N`, 2N, 3N... (N at least 1)")
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
	cfg.mode, cfg.backend, cfg.fault.organ = mode.value, backend.value, failOrgan.value
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := cfg.checkCombination(given); err != nil {
		return cfg, err
	}

	cfg.questions = questions
	if len(cfg.questions) == 0 {
		cfg.questions = slices.Clone(defaultQuestions)
	}
	if !given["rituals"] {
		cfg.rituals = len(cfg.questions)
	}
	switch {
	case cfg.rituals < 1:
		return cfg, fmt.Errorf("-rituals %d: must be at least 1", cfg.rituals)
	case cfg.rituals > maxRituals:
		return cfg, fmt.Errorf("-rituals %d: must be at most %d", cfg.rituals, maxRituals)
	case cfg.concurrency < 1:
		return cfg, fmt.Errorf("-concurrency %d: must be at least 1", cfg.concurrency)
	case given["fail-organ"] && !given["fail-every"]:
		return cfg, fmt.Errorf("-fail-organ %s: needs -fail-every N, the rituals it fails on", cfg.fault.organ)
	case given["fail-every"] && !given["fail-organ"]:
		return cfg, fmt.Errorf("-fail-every %d: needs -fail-organ, the organ that fails", cfg.fault.every)
	case given["fail-every"] && cfg.fault.every < 1:
		return cfg, fmt.Errorf("-fail-every %d: must be at least 1", cfg.fault.every)
	case cfg.redis.claimMinIdle <= 0:
		return cfg, fmt.Errorf("-claim-min-idle %v: must be more than 0", cfg.redis.claimMinIdle)
	case cfg.redis.claimMinIdle < time.Millisecond:
		return cfg, fmt.Errorf("-claim-min-idle %v: below Redis's 1ms resolution", cfg.redis.claimMinIdle)
	}
	if cfg.backend == backendRedis {
		if err := cfg.redis.complete(given["redis-url"], getenv); err != nil {
			return cfg, err
		}
		// A séance on a shared stream needs an id to be audited apart
		// from the others.
		switch {
		case cfg.mode == modeWorker || cfg.mode == modeRedrive:
		case !given["seance"]:
			cfg.seance = newSeanceID()
		case cfg.seance == "":
			return cfg, errors.New(`-seance "": empty: a séance on redis needs an id`)
		}
	}
	// The organs' own validation, so the flags fail here rather than as dead
	// letters; its field names are the flag names.
	flagValue := map[string]string{"seeker": cfg.seeker, "seance": cfg.seance}
	for _, q := range cfg.questions {
		err := organs.Ritual{Number: 1, Seeker: cfg.seeker, Question: q, Seance: cfg.seance}.Validate()
		if fe, ok := errors.AsType[*organs.FieldError](err); ok {
			value, ok := flagValue[fe.Field]
			if !ok {
				value = q
			}
			return cfg, fmt.Errorf("-%s %q: %s", fe.Field, value, fe.Reason)
		}
		if err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// checkCombination refuses a mode the backend cannot serve and flags that
// would have no effect, rather than let a user believe they did something.
func (cfg config) checkCombination(given map[string]bool) error {
	if cfg.backend == backendMemory {
		switch cfg.mode {
		case modeWorker:
			return errors.New("-mode worker: needs -backend redis: an in-memory queue lives in one process, so nothing could feed a worker")
		case modeEmit:
			return errors.New("-mode emit: needs -backend redis: an in-memory queue dies with the process that fills it")
		case modeRedrive:
			return errors.New("-mode redrive: needs -backend redis: the dead letters of an in-memory queue die with the process that made them")
		}
	}
	redisOnly := []string{"claim-min-idle", "consumer", "group", "redis-url", "stream"}
	ritualsOnly := []string{"question", "rituals", "seance", "seeker"}
	// Flags of the modes that handle events.
	handling := []string{"claim-min-idle", "concurrency", "fail-every", "fail-organ"}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		switch {
		case cfg.backend == backendMemory && slices.Contains(redisOnly, name):
			return fmt.Errorf("-%s: needs -backend redis", name)
		case cfg.mode == modeWorker && slices.Contains(ritualsOnly, name):
			return fmt.Errorf("-%s: not used by -mode worker, which handles the rituals others emit", name)
		case cfg.mode == modeEmit && slices.Contains(handling, name):
			return fmt.Errorf("-%s: not used by -mode emit, which handles nothing", name)
		case cfg.mode == modeRedrive && (slices.Contains(handling, name) || slices.Contains(ritualsOnly, name) ||
			name == "group" || name == "consumer"):
			return fmt.Errorf("-%s: not used by -mode redrive, which only moves the dead letters back to the stream", name)
		}
	}
	return nil
}

// complete fills in the Redis URL, from the environment when the flag was
// not given, parses it and checks the names.
func (rc *redisConfig) complete(urlGiven bool, getenv func(string) string) error {
	if !urlGiven {
		rc.url = getenv(envRedisURL)
		if rc.url == "" {
			rc.url = defaultRedisURL
		}
	}
	opts, err := goredis.ParseURL(rc.url)
	if err != nil {
		// A url.Error quotes the whole URL, password included: keep
		// only its reason.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return fmt.Errorf("-redis-url %s: %v", nsredis.RedactURL(rc.url), err)
	}
	nsredis.ClientDefaults(opts)
	rc.options = opts
	for _, f := range []struct{ name, value string }{{"stream", rc.stream}, {"group", rc.group}} {
		if strings.TrimSpace(f.value) == "" {
			return fmt.Errorf("-%s %q: empty", f.name, f.value)
		}
	}
	return nil
}

// newSeanceID returns a short random id: enough to tell apart the séances
// that share a stream, short enough to read in a header.
func newSeanceID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, getenv, stderr)
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
	switch cfg.mode {
	case modeWorker:
		return work(ctx, cfg, log, stdout, stderr)
	case modeEmit:
		return emit(ctx, cfg, log, stdout, stderr)
	case modeRedrive:
		return redrive(ctx, cfg, log, stdout, stderr)
	}
	return hold(ctx, cfg, log, stdout, stderr)
}

// summons returns the SUMMON_RITUAL event of ritual n of the séance.
func (cfg config) summons(n int) (core.Event, error) {
	q := cfg.questions[(n-1)%len(cfg.questions)]
	return organs.SummonRitual.New(organs.Ritual{Number: n, Seeker: cfg.seeker, Question: q, Seance: cfg.seance})
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
