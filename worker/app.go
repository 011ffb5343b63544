package worker

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"sync"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/necrotel"
)

// App describes a program: its organs, and what it adds to the runtime.
// Every field but Organs is optional.
type App struct {
	// Name names the program in usage and errors. Default: the base name
	// of os.Args[0].
	Name string
	// Summary is the first paragraph of the usage (-h).
	Summary string
	// Stream is the default of -stream. Default redis.DefaultStream.
	Stream string
	// Backend is the default of -backend: "memory" or "redis". Default
	// memory.
	Backend string
	// LogLevel is the default of -log-level. Default Info.
	LogLevel slog.Level

	// Organs returns the organs of a run or a worker.
	Organs func(p *Process) ([]core.Organ, error)
	// Seeds returns the events a run or an emit enqueues. Without it, they
	// are read as JSON lines from -input.
	Seeds func(p *Process) ([]core.Event, error)
	// StepsPerSeed bounds a run: it may pull at most (the events already
	// in the stream + the seeds) × StepsPerSeed events, a guard against
	// organs that emit each other for ever. Default: core's MaxSteps;
	// core.NoStepLimit for none.
	StepsPerSeed int
	// MaxEventBytes is the Redis backend's MaxEventBytes. Default
	// redis.DefaultMaxEventBytes.
	MaxEventBytes int

	// Flags registers the app's own flags.
	Flags func(fs *flag.FlagSet)
	// FlagModes lists, for those of the app's flags that have an effect in
	// some modes only, the modes: such a flag given in another mode is
	// refused, as the runtime refuses its own.
	FlagModes map[string][]Mode
	// Check validates the app's flags once parsed, knowing the mode and
	// the backend; its error is a usage error (exit 2).
	Check func(p *Process) error
	// Spine adjusts the Spine's configuration of a run or a worker, once
	// the runtime has filled it: its retry policy, its Observer, the
	// middleware around the organs (instrumentation). With -listen or
	// -traces the configuration already holds the runtime's telemetry: add
	// to cfg.Middleware and chain cfg.Observer rather than replace them.
	Spine func(p *Process, cfg *core.Config)
	// Begin runs before a run or a worker handles anything.
	Begin func(p *Process)
	// End runs at the end of every mode with what happened, and may print
	// it; its error fails the process (exit 1). Without it the runtime
	// prints one line for emit and redrive.
	End func(p *Process, r Result) error
	// HTTP adds handlers to the -listen listener. /healthz and /readyz are
	// the runtime's; /metrics too, unless the app serves it here.
	HTTP func(mux *http.ServeMux, p *Process)
}

// Mode is what a process does.
type Mode string

// The modes (see the package doc).
const (
	ModeRun     Mode = "run"
	ModeWorker  Mode = "worker"
	ModeEmit    Mode = "emit"
	ModeRedrive Mode = "redrive"
)

// The backends.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
)

// Exit codes (see the package doc).
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitUnavailable = 3
	ExitRefused     = 4
)

// Process is one invocation of the program, as the app's hooks see it.
type Process struct {
	// App is the app being run.
	App *App
	// Settings is the runtime's configuration, flags and environment
	// applied; once the Redis backend is open, Stream, Group, Consumer and
	// ClaimMinIdle are those in force (the consumer's generated name, say).
	Settings
	// Stdout is where the app prints; logs go to Log (on stderr).
	Stdout, Stderr io.Writer
	Log            *slog.Logger

	given  map[string]bool
	otel   *telemetry          // nil: neither -listen nor -traces
	tel    *necrotel.Telemetry // once the backend is open, with otel
	redis  *nsredis.Backend    // once open, on Redis
	mu     sync.Mutex
	finish context.CancelFunc // ends a run; nil outside one
	done   bool
}

// Redis returns the Redis backend once it is open (in the hooks from
// App.Spine on), nil on memory: for what the app reads from Redis besides
// events (metrics of the stream, say).
func (p *Process) Redis() *nsredis.Backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.redis
}

// Given reports whether the flag name was given on the command line.
func (p *Process) Given(name string) bool { return p.given[name] }

// Finish ends a run once its work is done, without waiting for the chain
// to go idle: the events in flight finish and are committed, and the run
// reports as complete. Outside a run it does nothing.
func (p *Process) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	if p.finish != nil {
		p.finish()
	}
}

func (p *Process) finished() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Result is what a mode did, for App.End.
type Result struct {
	// Mode is the mode that ran, Stream the stream it used ("" on memory).
	Mode   Mode
	Stream string
	// Seeded is how many events a run or an emit enqueued.
	Seeded int
	// Stats is the Spine's work, in a run or a worker.
	Stats core.Stats
	// DeadLetters are those added while a run ran.
	DeadLetters []core.DeadLetter
	// Redriven is how many dead letters a redrive moved back, and
	// NotRedrivable how many it left because they hold no event.
	Redriven, NotRedrivable int
	// Interrupted says a signal stopped a run before its work was done.
	Interrupted bool
	// Err is what stopped the mode early, if anything: the runtime reports
	// it, after End.
	Err error
}
