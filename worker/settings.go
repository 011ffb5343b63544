package worker

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	nsredis "github.com/necrostack/necrostack/backends/redis"
)

// Settings is the runtime's configuration, from flags and NECROSTACK_*
// variables (see the package doc for each one's default).
type Settings struct {
	Mode        Mode
	Backend     string
	RedisURL    string // as given: print it only through redis.RedactURL
	Stream      string
	Group       string
	Consumer    string // "" for the backend's unique default
	Concurrency int
	// ClaimMinIdle, HandlerTimeout and ShutdownTimeout go to the backend
	// and the Spine as they are (0: none for HandlerTimeout).
	ClaimMinIdle    time.Duration
	HandlerTimeout  time.Duration
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogFormat       string // "json" or "text"
	// Listen is the HTTP listener's address, "" for none; a bare port is
	// made a loopback address.
	Listen string
	// Input is where a run or an emit reads its seeds when the app has
	// none of its own: a file, or "-" for standard input.
	Input string
	// Traces is where the spans go, one JSON object per line: a file, or
	// "-" for stderr; "" for no tracing. TraceHops says how a delivery's
	// spans relate to those of the span that produced its event: "link"
	// (the semantic conventions' way) or "parent" (a chain is one trace).
	Traces    string
	TraceHops string
	// Partitions splits the stream into that many (1: the stream itself;
	// see redis.NewPartitioned); Ordered makes each partition's events of
	// one key handled in order, one owner per partition (redis.NewOrdered),
	// with leases of LeaseTTL.
	Partitions int
	Ordered    bool
	LeaseTTL   time.Duration
	// WaitReplicas makes every write wait for that many replicas (Redis
	// WAIT; see redis.Config.WaitReplicas).
	WaitReplicas int
}

const (
	defaultRedisURL = nsredis.DefaultURL
	envPrefix       = "NECROSTACK_"
)

// option is one runtime setting: its flag, its variable, where it applies.
type option struct {
	name  string // the flag; the variable is NECROSTACK_ + it in upper snake case
	usage string
	set   func(s *Settings, v string) error
	get   func(s *Settings) string // the value in force, for the usage
	// redisOnly options have no effect on the memory backend; modes lists
	// the modes they have an effect in (nil: all).
	redisOnly bool
	modes     []Mode
	boolean   bool // given alone (-ordered), it means true
}

func (o option) env() string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

var handling = []Mode{ModeRun, ModeWorker}

// options lists the runtime's settings, in the order of the usage.
var options = []option{
	{name: "mode", get: func(s *Settings) string { return string(s.Mode) }, usage: "the `mode`: run (seed, handle until done, report), worker (handle until SIGINT or SIGTERM), emit (seed and exit) or redrive (move the dead letters back to the stream)",
		set: func(s *Settings, v string) error {
			m := Mode(v)
			if !slices.Contains([]Mode{ModeRun, ModeWorker, ModeEmit, ModeRedrive}, m) {
				return errors.New("must be run, worker, emit or redrive")
			}
			s.Mode = m
			return nil
		}},
	{name: "backend", get: func(s *Settings) string { return s.Backend }, usage: "the `backend` where events live: memory (this process only) or redis",
		set: func(s *Settings, v string) error {
			if v != BackendMemory && v != BackendRedis {
				return errors.New("must be memory or redis")
			}
			s.Backend = v
			return nil
		}},
	{name: "redis-url", redisOnly: true, get: func(s *Settings) string { return nsredis.RedactURL(s.RedisURL) }, usage: "Redis `URL`: redis:// or rediss://, with user and password if needed",
		// Checked after parsing: the flag package would quote the value,
		// password and all, in its error.
		set: func(s *Settings, v string) error { s.RedisURL = v; return nil }},
	{name: "stream", redisOnly: true, get: func(s *Settings) string { return s.Stream }, usage: "Redis stream `key`; dead letters go to key:dlq",
		set: func(s *Settings, v string) error { return nonEmpty(&s.Stream, v) }},
	{name: "group", redisOnly: true, modes: []Mode{ModeRun, ModeWorker, ModeEmit}, get: func(s *Settings) string { return s.Group }, usage: "Redis consumer group `name`",
		set: func(s *Settings, v string) error { return nonEmpty(&s.Group, v) }},
	{name: "consumer", redisOnly: true, modes: handling, usage: "`name` of this process in the group (default: host-pid-random); never the same for two live workers",
		set: func(s *Settings, v string) error { return nonEmpty(&s.Consumer, v) }},
	{name: "partitions", redisOnly: true, modes: []Mode{ModeWorker, ModeEmit}, get: func(s *Settings) string { return strconv.Itoa(s.Partitions) }, usage: "`number` of partitions the stream is split into (1 to 1024), each in a hash slot of its own; every process of the stream must give the same",
		set: func(s *Settings, v string) error {
			if err := positiveInt(&s.Partitions, v); err != nil {
				return err
			}
			if s.Partitions > nsredis.MaxPartitions {
				return fmt.Errorf("must be at most %d", nsredis.MaxPartitions)
			}
			return nil
		}},
	{name: "ordered", redisOnly: true, boolean: true, modes: []Mode{ModeWorker}, get: func(s *Settings) string { return strconv.FormatBool(s.Ordered) }, usage: "handle the events of one key in order: each partition has one owner among the workers at a time (`true` or false)",
		set: func(s *Settings, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("must be true or false")
			}
			s.Ordered = b
			return nil
		}},
	{name: "lease-ttl", redisOnly: true, modes: []Mode{ModeWorker}, get: func(s *Settings) string { return s.LeaseTTL.String() }, usage: "with -ordered, the `duration` a partition's lease lasts unless renewed: a worker that dies has its partitions taken over within about that",
		set: func(s *Settings, v string) error {
			var d time.Duration
			if err := duration(&d, v, 0); err != nil {
				return err
			}
			if d <= nsredis.DefaultTimeout {
				return fmt.Errorf("must be above %v, the timeout of the command that renews it", nsredis.DefaultTimeout)
			}
			s.LeaseTTL = d
			return nil
		}},
	{name: "wait-replicas", redisOnly: true, modes: []Mode{ModeWorker, ModeEmit, ModeRun}, get: func(s *Settings) string { return strconv.Itoa(s.WaitReplicas) }, usage: "`number` of replicas every enqueue and commit waits for (Redis WAIT, within 1s), so that a failover keeps it (0: none)",
		set: func(s *Settings, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("must be a whole number, 0 or more")
			}
			s.WaitReplicas = n
			return nil
		}},
	{name: "concurrency", modes: handling, get: func(s *Settings) string { return strconv.Itoa(s.Concurrency) }, usage: "`number` of events handled at once",
		set: func(s *Settings, v string) error { return positiveInt(&s.Concurrency, v) }},
	{name: "claim-min-idle", redisOnly: true, modes: handling, get: func(s *Settings) string { return s.ClaimMinIdle.String() }, usage: "the `duration` an entry of a worker that stopped waits before another worker reclaims it",
		set: func(s *Settings, v string) error { return duration(&s.ClaimMinIdle, v, time.Millisecond) }},
	{name: "handler-timeout", modes: handling, usage: "the longest `duration` one organ call may take before it is cancelled and counts as failed (0: no limit)",
		set: func(s *Settings, v string) error { return duration(&s.HandlerTimeout, v, 0) }},
	{name: "shutdown-timeout", modes: handling, get: func(s *Settings) string { return s.ShutdownTimeout.String() }, usage: "the `duration` the events in flight may take to finish after SIGINT or SIGTERM",
		set: func(s *Settings, v string) error { return duration(&s.ShutdownTimeout, v, time.Millisecond) }},
	{name: "log-level", get: func(s *Settings) string { return strings.ToLower(s.LogLevel.String()) }, usage: "`level` of the logs on stderr: debug, info, warn or error",
		set: func(s *Settings, v string) error {
			if s.LogLevel.UnmarshalText([]byte(v)) != nil {
				return errors.New("must be debug, info, warn or error")
			}
			return nil
		}},
	{name: "log-format", get: func(s *Settings) string { return s.LogFormat }, usage: "`format` of the logs on stderr: json or text",
		set: func(s *Settings, v string) error {
			if v != "json" && v != "text" {
				return errors.New("must be json or text")
			}
			s.LogFormat = v
			return nil
		}},
	{name: "listen", usage: "`address` of the HTTP listener (/healthz, /readyz, …); a bare port such as :9464 listens on 127.0.0.1 (default: none)",
		set: func(s *Settings, v string) error {
			addr, err := listenAddr(v)
			s.Listen = addr
			return err
		}},
	{name: "input", modes: []Mode{ModeRun, ModeEmit}, get: func(s *Settings) string { return s.Input }, usage: "`file` of events to seed, one JSON per line (- for standard input)",
		set: func(s *Settings, v string) error { return nonEmpty(&s.Input, v) }},
	{name: "traces", modes: []Mode{ModeRun, ModeWorker, ModeEmit}, usage: "write every span (OpenTelemetry, all sampled) to `file`, one JSON object per line (- for stderr; default: no tracing)",
		set: func(s *Settings, v string) error { return nonEmpty(&s.Traces, v) }},
	{name: "trace-hops", modes: []Mode{ModeRun, ModeWorker}, get: func(s *Settings) string { return s.TraceHops }, usage: "how the spans of a delivery relate to the span that produced its event: `link` (a trace per hop, linked) or parent (a chain is one trace)",
		set: func(s *Settings, v string) error {
			if v != "link" && v != "parent" {
				return errors.New("must be link or parent")
			}
			s.TraceHops = v
			return nil
		}},
}

// optionValue is an option as a flag.Value; it shows the value in force as
// the flag's default.
type optionValue struct {
	o option
	s *Settings
}

func (v *optionValue) String() string {
	if v == nil || v.s == nil || v.o.get == nil {
		return ""
	}
	return v.o.get(v.s)
}

func (v *optionValue) Set(x string) error { return v.o.set(v.s, x) }

// IsBoolFlag tells the flag package that a boolean option may be given
// without a value.
func (v *optionValue) IsBoolFlag() bool { return v.o.boolean }

// usageError is an error in the flags or the environment (exit 2).
type usageError struct{ error }

// parse returns the settings args and the environment describe, and the
// flags given. Errors name the flag or the variable.
func parse(app *App, args []string, getenv func(string) string, stderr io.Writer) (*Process, error) {
	s := Settings{
		Mode: ModeWorker, Backend: BackendMemory, RedisURL: defaultRedisURL,
		Stream: nsredis.DefaultStream, Group: nsredis.DefaultGroup, Concurrency: 1,
		ClaimMinIdle: nsredis.DefaultClaimMinIdle, ShutdownTimeout: 10 * time.Second,
		LogLevel: app.LogLevel, LogFormat: "json", Input: "-", TraceHops: "link",
		Partitions: 1, LeaseTTL: nsredis.DefaultLeaseTTL,
	}
	if app.Seeds != nil {
		s.Mode = ModeRun
	}
	if app.Backend != "" {
		s.Backend = app.Backend
	}
	if app.Stream != "" {
		s.Stream = app.Stream
	}
	for _, o := range options {
		if v := getenv(o.env()); v != "" {
			if err := o.set(&s, v); err != nil {
				return nil, usageError{fmt.Errorf("$%s %s: %v", o.env(), shown(o.name, v), err)}
			}
		}
	}
	fs := flag.NewFlagSet(app.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(fs, app) }
	for _, o := range options {
		if o.name == "input" && app.Seeds != nil {
			continue // the app seeds by itself
		}
		fs.Var(&optionValue{o: o, s: &s}, o.name, o.usage)
	}
	if app.Flags != nil {
		app.Flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err // the flag package has said what is wrong, with the usage
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected argument %q: the program takes flags only (-h lists them)", fs.Arg(0))}
	}
	p := &Process{App: app, Settings: s, given: map[string]bool{}}
	fs.Visit(func(f *flag.Flag) { p.given[f.Name] = true })
	if err := checkURL(s.RedisURL); err != nil {
		source := "-redis-url"
		if !p.given["redis-url"] {
			source = "$" + envPrefix + "REDIS_URL"
		}
		return nil, usageError{fmt.Errorf("%s %s: %v", source, nsredis.RedactURL(s.RedisURL), err)}
	}
	if err := p.checkCombination(); err != nil {
		return nil, usageError{err}
	}
	return p, nil
}

// checkCombination refuses a mode the backend cannot serve and runtime
// flags that would have no effect.
func (p *Process) checkCombination() error {
	if p.Backend == BackendMemory && p.Mode != ModeRun {
		return fmt.Errorf("-mode %s: needs -backend redis: an in-memory queue lives and dies with this one process", p.Mode)
	}
	for _, o := range options {
		if !p.given[o.name] || o.name == "input" && p.App.Seeds != nil {
			continue // not given, or the app's own flag of that name
		}
		switch {
		case o.redisOnly && p.Backend == BackendMemory:
			return fmt.Errorf("-%s: needs -backend redis", o.name)
		case o.modes != nil && !slices.Contains(o.modes, p.Mode):
			return fmt.Errorf("-%s: not used by -mode %s", o.name, p.Mode)
		}
	}
	if p.given["lease-ttl"] && !p.Ordered {
		return errors.New("-lease-ttl: needs -ordered")
	}
	if p.given["trace-hops"] && p.Traces == "" {
		return errors.New("-trace-hops: needs -traces (or $NECROSTACK_TRACES)")
	}
	for _, name := range slices.Sorted(maps.Keys(p.App.FlagModes)) {
		if p.given[name] && !slices.Contains(p.App.FlagModes[name], p.Mode) {
			return fmt.Errorf("-%s: not used by -mode %s", name, p.Mode)
		}
	}
	return nil
}

func usage(fs *flag.FlagSet, app *App) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", app.Name)
	if app.Summary != "" {
		fmt.Fprintf(w, "%s\n\n", app.Summary)
	}
	fmt.Fprintf(w, "Flags (each runtime flag can also be set by its variable, NECROSTACK_ and its name in capitals, as NECROSTACK_REDIS_URL; a flag wins):\n")
	fs.PrintDefaults()
}

// shown is how a setting's value appears in a message: a URL without its
// password.
func shown(name, v string) string {
	if name == "redis-url" {
		return nsredis.RedactURL(v)
	}
	return strconv.Quote(v)
}

func checkURL(v string) error {
	if !strings.HasPrefix(v, "redis://") && !strings.HasPrefix(v, "rediss://") {
		return errors.New("must start with redis:// or rediss://")
	}
	if err := nsredis.CheckURL(v); err != nil {
		if ce, ok := errors.AsType[*nsredis.ConfigError](err); ok {
			return errors.New(strings.TrimPrefix(ce.Reason, nsredis.RedactURL(v)+": ")) // the caller names the URL
		}
		return errors.New(nsredis.Redact(err.Error(), v))
	}
	return nil
}

func nonEmpty(dst *string, v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty")
	}
	*dst = v
	return nil
}

func positiveInt(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return errors.New("not a whole number")
	}
	if n < 1 {
		return errors.New("must be at least 1")
	}
	*dst = n
	return nil
}

func duration(dst *time.Duration, v string, least time.Duration) error {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return errors.New("not a duration, such as 500ms or 30s")
	case d < least || d < 0:
		if least == 0 {
			return errors.New("must not be negative")
		}
		return fmt.Errorf("must be at least %v", least)
	}
	*dst = d
	return nil
}

// listenAddr makes a bare port a loopback address.
func listenAddr(v string) (string, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", errors.New("must be host:port or :port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", errors.New("the port must be a number from 0 to 65535")
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}
