package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/backends/redis"
)

// Systems and backends.
const (
	SystemNecrostack = "necrostack"
	SystemWatermill  = "watermill"
	BackendMemory    = "memory"
	BackendRedis     = "redis"
)

// Lower-case aliases keep the runners' code short.
const (
	backendMemory = BackendMemory
	backendRedis  = BackendRedis
)

// Defaults for Config.
const (
	DefaultRituals = 100_000
	// DefaultWindow keeps the workers busy on either backend without
	// swamping Watermill's GoChannel, which spawns a goroutine per message
	// in flight and slows down, erratically, past a few hundred.
	DefaultWindow = 256
	DefaultStall  = 30 * time.Second
)

// Config describes one run. Zero fields take the defaults given in their
// comments.
type Config struct {
	// System is SystemNecrostack (default) or SystemWatermill.
	System string
	// Backend is BackendMemory (default) or BackendRedis.
	Backend string
	// Rituals is how many rituals to run, four organ calls each. Default
	// DefaultRituals.
	Rituals int
	// Concurrency is NecroStack's Options.Concurrency, or for Watermill on
	// Redis the handlers (consumers) per stage. Watermill on memory runs one
	// handler per stage, so it must be 1 there. Default 1.
	Concurrency int
	// Window bounds the rituals in flight (enqueued, omen not yet
	// recorded) when Rate is 0. Default DefaultWindow.
	Window int
	// Rate, when positive, is the rituals per second the producer enqueues
	// on a fixed schedule, for latency; 0 enqueues as fast as the system
	// takes them, within Window.
	Rate float64
	// RedisURL locates Redis; required with BackendRedis.
	RedisURL string
	// Persistence labels the Redis server's persistence in the Result.
	// Default "none".
	Persistence string
	// Stream is the Redis stream key (for Watermill, the prefix of its four
	// streams). Default: a fresh key per run. The keys must not exist; they
	// are deleted at the end.
	Stream string
	// Stall fails the run when no omen arrives for this long. Default
	// DefaultStall.
	Stall time.Duration
	// CPUProfile, when set, receives a CPU profile of the timed part.
	CPUProfile string
	// MemProfile, when set, receives the allocation profile as of the last
	// omen.
	MemProfile string
	// HandlerDelay makes every organ (handler) of both systems wait this
	// long before its work, honouring its context, as a call to a database
	// or an HTTP service would: the I/O-bound chain. On Linux the wait ends
	// as an I/O call's does, by a file descriptor (a timerfd) becoming
	// ready, rather than on a Go timer, which a mostly idle runtime fires
	// up to a millisecond late (ioclock_linux.go). Default 0.
	HandlerDelay time.Duration
	// OTel instruments NecroStack with OpenTelemetry (package necrotel),
	// for its overhead: OTelOff (default), OTelMetrics (the metrics only),
	// OTelSampled (the metrics, and spans sampled at 1%, as production
	// would) or OTelAll (the metrics, and every span sampled). Sampled
	// spans are batched, then dropped. NecroStack only.
	OTel string
	// Partitions splits the Redis stream into that many partitions
	// (redis.NewPartitioned, shared mode), the seeds spread over them in
	// turn. NecroStack on Redis only. Default 1: one stream.
	Partitions int
	// Ordered runs the partitions in ordered mode (redis.NewOrdered), the
	// seeds keyed (OrderedKeys keys, to their partitions), one owner per
	// partition. NecroStack on Redis only.
	Ordered bool
	// Phases measures where each event's time goes, stage by stage, with
	// the Spine's Observer (see Phases), into Result.Phases. NecroStack only;
	// it slows the run down. It counts every event, a warm-up's too.
	Phases bool
	// Warmup, with Rate, keeps the latencies of the rituals due in its
	// first Warmup (the first Rate × Warmup of them, rounded) apart from
	// the others: they run and are checked like every other ritual, but
	// Result's percentiles are of the rituals after them, the steady state,
	// and Result.WarmupP50Ms and WarmupP99Ms are of them. A process that has
	// just started runs slower for a few hundred milliseconds (its heap,
	// stacks and connections growing: at half load on Redis, on the machine
	// of the README's figures, rituals took up to 57 ms in the first 200 ms,
	// against a p99 of about 20 ms after them), which in a run of a few
	// seconds sets the p99 by itself. Seconds, the rates and the CPU times
	// still cover the whole run. Default 0: none.
	Warmup time.Duration
}

// warmupRituals is how many rituals are due in the warm-up: the first ones,
// as the producer enqueues them in order.
func (c Config) warmupRituals() int {
	return int(math.Round(c.Rate * c.Warmup.Seconds()))
}

// OrderedKeys is how many keys an ordered run's seeds carry, in turn.
const OrderedKeys = 1024

// Values of Config.OTel.
const (
	OTelOff     = "off"
	OTelMetrics = "metrics"
	OTelSampled = "sampled"
	OTelAll     = "all"
)

// Validate reports the first invalid field, defaults applied.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

func (c Config) withDefaults() (Config, error) {
	if c.System == "" {
		c.System = SystemNecrostack
	}
	if c.Backend == "" {
		c.Backend = BackendMemory
	}
	if c.Rituals == 0 {
		c.Rituals = DefaultRituals
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Persistence == "" {
		c.Persistence = "none"
	}
	if c.Stall == 0 {
		c.Stall = DefaultStall
	}
	if c.OTel == "" {
		c.OTel = OTelOff
	}
	if c.Partitions == 0 {
		c.Partitions = 1
	}
	switch {
	case c.System != SystemNecrostack && c.System != SystemWatermill:
		return c, fmt.Errorf("system %q: want %s or %s", c.System, SystemNecrostack, SystemWatermill)
	case c.Backend != BackendMemory && c.Backend != BackendRedis:
		return c, fmt.Errorf("backend %q: want %s or %s", c.Backend, BackendMemory, BackendRedis)
	case c.Rituals < 1:
		return c, fmt.Errorf("rituals %d: must be at least 1", c.Rituals)
	case c.Concurrency < 1:
		return c, fmt.Errorf("concurrency %d: must be at least 1", c.Concurrency)
	case c.System == SystemWatermill && c.Backend == BackendMemory && c.Concurrency != 1:
		return c, fmt.Errorf("concurrency %d: Watermill's GoChannel gives every subscription every message, so it runs one handler per stage (which already handles messages concurrently)", c.Concurrency)
	case c.Window < 1:
		return c, fmt.Errorf("window %d: must be at least 1", c.Window)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return c, fmt.Errorf("rate %v: must be 0 or a positive number", c.Rate)
	case c.Backend == BackendRedis && c.RedisURL == "":
		return c, errors.New("a Redis URL is required with the redis backend")
	case c.Stall < 0:
		return c, fmt.Errorf("stall %v: must be positive", c.Stall)
	case c.HandlerDelay < 0:
		return c, fmt.Errorf("handler delay %v: must not be negative", c.HandlerDelay)
	case c.OTel != OTelOff && c.OTel != OTelMetrics && c.OTel != OTelSampled && c.OTel != OTelAll:
		return c, fmt.Errorf("otel %q: want %s, %s, %s or %s", c.OTel, OTelOff, OTelMetrics, OTelSampled, OTelAll)
	case c.OTel != OTelOff && c.System != SystemNecrostack:
		return c, fmt.Errorf("otel %s: instruments NecroStack only, not %s", c.OTel, c.System)
	case c.Partitions < 1 || c.Partitions > redis.MaxPartitions:
		return c, fmt.Errorf("partitions %d: want 1 to %d", c.Partitions, redis.MaxPartitions)
	case c.Partitions > 1 && (c.System != SystemNecrostack || c.Backend != BackendRedis):
		return c, fmt.Errorf("partitions %d: for NecroStack on Redis only", c.Partitions)
	case c.Ordered && (c.System != SystemNecrostack || c.Backend != BackendRedis):
		return c, errors.New("ordered: for NecroStack on Redis only")
	case c.Phases && c.System != SystemNecrostack:
		return c, fmt.Errorf("phases: measured with NecroStack's Observer, not on %s", c.System)
	case c.Warmup < 0:
		return c, fmt.Errorf("warmup %v: must not be negative", c.Warmup)
	case c.Warmup > 0 && c.Rate == 0:
		return c, fmt.Errorf("warmup %v: needs a rate (the rituals due in the warm-up are left out of the latencies)", c.Warmup)
	case c.Warmup > 0 && c.warmupRituals() >= c.Rituals:
		return c, fmt.Errorf("warmup %v at rate %v is %d rituals: want fewer than the run's %d", c.Warmup, c.Rate, c.warmupRituals(), c.Rituals)
	}
	if c.Backend == BackendRedis && c.Stream == "" {
		c.Stream = freshStream(c.System, c.Partitions)
	}
	return c, nil
}

// Result is what one run measured: the JSON line the command prints.
type Result struct {
	System      string  `json:"system"`
	Backend     string  `json:"backend"`
	Chain       string  `json:"chain"`         // always "seance"
	Rituals     int     `json:"rituals"`       // seeds enqueued, and omens recorded
	Handled     int64   `json:"handled"`       // organ calls: 4 per ritual
	Seconds     float64 `json:"seconds"`       // first seed enqueued → last omen recorded
	HandledPerS float64 `json:"handled_per_s"` // Handled / Seconds
	P50Ms       float64 `json:"p50_ms"`        // median latency, a ritual's enqueue → its omen
	P99Ms       float64 `json:"p99_ms"`        // 99th percentile of that latency
	P999Ms      float64 `json:"p999_ms"`       // 99.9th percentile of that latency
	// With Config.Warmup the percentiles above leave out the first
	// WarmupRituals rituals, due in the first WarmupS seconds; these are
	// theirs.
	WarmupS          float64 `json:"warmup_s,omitempty"`
	WarmupRituals    int     `json:"warmup_rituals,omitempty"`
	WarmupP50Ms      float64 `json:"warmup_p50_ms,omitempty"`
	WarmupP99Ms      float64 `json:"warmup_p99_ms,omitempty"`
	RitualsPerS      float64 `json:"rituals_per_s"`      // Rituals / Seconds: the rate achieved
	AllocsPerHandled float64 `json:"allocs_per_handled"` // heap allocations of the whole process while timed, per organ call
	MaxRSSMB         float64 `json:"max_rss_mb"`         // peak resident set of the process, MiB
	Concurrency      int     `json:"concurrency"`
	Persistence      string  `json:"persistence"`
	Rate             float64 `json:"rate"`             // rituals/s asked; 0: as fast as possible
	Window           int     `json:"window"`           // most rituals in flight (Rituals when Rate > 0)
	GOMAXPROCS       int     `json:"gomaxprocs"`       // Go's processors: the CPUs the process may use
	HandlerDelayMs   float64 `json:"handler_delay_ms"` // each organ's wait, standing for its I/O
	OTel             string  `json:"otel"`             // OpenTelemetry: off, metrics, sampled (1% of spans) or all
	Partitions       int     `json:"partitions"`       // Redis stream partitions (NecroStack on Redis; else 1)
	Ordered          bool    `json:"ordered"`          // ordered mode (NecroStack on Redis)
	// WorkerCPUUs is the CPU time (user and system) of this process while
	// timed, per organ call, in microseconds: the workers, and the producer
	// and recorder, which cost little (seeding is a pipelined XADD per 256
	// rituals on Redis).
	WorkerCPUUs float64 `json:"worker_cpu_us_per_handled"`
	// RedisCPUUs is the Redis server's CPU time (INFO cpu) while timed, per
	// organ call, in microseconds; Redis only, and only meaningful when
	// nothing else uses that server meanwhile.
	RedisCPUUs float64 `json:"redis_cpu_us_per_handled,omitempty"`
	// HostBusyPct is the share of the whole host's CPU time (every CPU, every
	// process) that was busy while timed, in percent: how close the machine
	// was to saturation. HostStealPct is the share the hypervisor gave to
	// other guests instead ("steal" in /proc/stat): on a shared virtual
	// machine, a run with a few percent stolen measured the neighbours as
	// much as the systems. Both are read from /proc/stat, on Linux only.
	HostBusyPct  *float64 `json:"host_busy_pct,omitempty"`
	HostStealPct *float64 `json:"host_steal_pct,omitempty"`
	// Phases is where the events' time went, with Config.Phases.
	Phases *Phases `json:"phases,omitempty"`
}

// system is a system under test running the chain.
type system interface {
	seeder
	// start runs the workers in the background.
	start(ctx context.Context) error
	// failed reports, while the run goes on, a condition that means some
	// rituals will never complete.
	failed(ctx context.Context) error
	// stop stops the workers, releases everything and deletes the run's keys.
	stop(ctx context.Context) error
}

// Run runs the séance chain on cfg's system and backend and returns what it
// measured. It fails unless exactly cfg.Rituals omens arrived, each once and
// complete, after exactly four organ calls per ritual. log receives the
// frameworks' warnings (NecroStack's only: Watermill's logger is off).
func Run(ctx context.Context, cfg Config, log *slog.Logger) (res Result, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return res, err
	}
	if cfg.HandlerDelay > 0 {
		release, err := acquireIOClock()
		if err != nil {
			return res, err
		}
		defer release() // after the systems have stopped: deferred first
	}
	window := cfg.Window
	if cfg.Rate > 0 {
		window = cfg.Rituals // the producer keeps to its schedule
	}
	rc := newRecorder(cfg.Rituals, window)
	rc.warm = int64(cfg.warmupRituals())

	var sut system
	var tracer *phaseTracer
	switch cfg.System {
	case SystemNecrostack:
		if cfg.Phases {
			tracer = newPhaseTracer()
		}
		s, err := newNecrostack(ctx, cfg, rc, tracer, log)
		if err != nil {
			return res, err
		}
		sut = s
	case SystemWatermill:
		w, err := newWatermill(ctx, cfg, rc)
		if err != nil {
			return res, err
		}
		sut = w
	}
	if err := sut.start(ctx); err != nil {
		return res, errors.Join(err, sut.stop(context.WithoutCancel(ctx)))
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if serr := sut.stop(stopCtx); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop: %w", serr))
		}
		// Once stopped, every event's phases are in: the last omens' organ
		// calls and commits may end after the run's timing has.
		if tracer != nil && err == nil {
			res.Phases = tracer.phases()
		}
	}()

	var profile *os.File
	if cfg.CPUProfile != "" {
		if profile, err = os.Create(cfg.CPUProfile); err != nil {
			return res, err
		}
		defer profile.Close()
	}

	// Timing starts with the workers running and idle, just before the
	// producer builds the first seed, and ends when the Scribe records the
	// last omen.
	var rdb goredis.UniversalClient // Redis only: its CPU time
	var redisBefore time.Duration
	if cfg.Backend == BackendRedis {
		if rdb, err = newRedisClient(cfg.RedisURL); err != nil {
			return res, err
		}
		defer rdb.Close()
		if redisBefore, err = redisCPU(ctx, rdb); err != nil {
			return res, err
		}
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	cpuBefore := processCPU()
	hostBefore, hostErr := readHostTimes()
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return res, err
		}
	}
	prodCtx, cancelProd := context.WithCancel(ctx)
	var prodErr error
	prodDone := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(prodDone)
		prodErr = produce(prodCtx, sut, rc, cfg.Rituals, cfg.Rate)
	}()
	waitErr := wait(ctx, cfg, sut, rc, prodDone, &prodErr)
	workerCPU := processCPU() - cpuBefore
	var hostBusy, hostSteal *float64
	if hostErr == nil {
		if after, err := readHostTimes(); err == nil {
			if busy, steal, ok := hostShares(hostBefore, after); ok {
				hostBusy, hostSteal = &busy, &steal
			}
		}
	}
	var redisUsed time.Duration
	if rdb != nil && waitErr == nil {
		after, err := redisCPU(ctx, rdb)
		waitErr, redisUsed = err, after-redisBefore
	}
	cancelProd()
	<-prodDone
	if profile != nil {
		pprof.StopCPUProfile()
	}
	if waitErr != nil {
		return res, waitErr
	}
	if cfg.MemProfile != "" {
		if err := writeAllocProfile(cfg.MemProfile); err != nil {
			return res, err
		}
	}
	elapsed := rc.end.Sub(start)
	handled := rc.totalHandled()
	if want := 4 * int64(cfg.Rituals); handled != want {
		return res, fmt.Errorf("%d organ calls for %d rituals, want exactly %d", handled, cfg.Rituals, want)
	}
	return Result{
		System:           cfg.System,
		Backend:          cfg.Backend,
		Chain:            "seance",
		Rituals:          cfg.Rituals,
		Handled:          handled,
		Seconds:          round(elapsed.Seconds(), 3),
		HandledPerS:      round(float64(handled)/elapsed.Seconds(), 0),
		P50Ms:            round(rc.lat.quantile(0.50)/1e6, 3),
		P99Ms:            round(rc.lat.quantile(0.99)/1e6, 3),
		P999Ms:           round(rc.lat.quantile(0.999)/1e6, 3),
		WarmupS:          cfg.Warmup.Seconds(),
		WarmupRituals:    int(rc.warm),
		WarmupP50Ms:      round(rc.warmLat.quantile(0.50)/1e6, 3),
		WarmupP99Ms:      round(rc.warmLat.quantile(0.99)/1e6, 3),
		RitualsPerS:      round(float64(cfg.Rituals)/elapsed.Seconds(), 0),
		AllocsPerHandled: round(float64(rc.endAlloc-before.Mallocs)/float64(handled), 2),
		MaxRSSMB:         round(maxRSSMiB(), 1),
		Concurrency:      cfg.Concurrency,
		Persistence:      cfg.Persistence,
		Rate:             cfg.Rate,
		Window:           window,
		GOMAXPROCS:       runtime.GOMAXPROCS(0),
		HandlerDelayMs:   float64(cfg.HandlerDelay) / 1e6,
		OTel:             cfg.OTel,
		Partitions:       cfg.Partitions,
		Ordered:          cfg.Ordered,
		WorkerCPUUs:      round(float64(workerCPU.Microseconds())/float64(handled), 2),
		RedisCPUUs:       round(float64(redisUsed.Microseconds())/float64(handled), 2),
		HostBusyPct:      hostBusy,
		HostStealPct:     hostSteal,
	}, nil
}

// wait returns nil once every ritual's omen is recorded, or the reason it
// never will be.
func wait(ctx context.Context, cfg Config, sut system, rc *recorder, prodDone <-chan struct{}, prodErr *error) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt := int64(-1), time.Now()
	for {
		select {
		case <-rc.done:
			if bad := rc.bad.Load(); bad > 0 {
				return fmt.Errorf("%d omens repeated, out of range or incomplete", bad)
			}
			return nil
		case <-prodDone:
			if *prodErr != nil {
				return fmt.Errorf("producer: %w", *prodErr)
			}
			prodDone = nil // every seed is enqueued; wait for the omens
		case <-ctx.Done():
			return fmt.Errorf("interrupted with %d of %d omens: %w", rc.omens.Load(), cfg.Rituals, ctx.Err())
		case <-tick.C:
			if bad := rc.bad.Load(); bad > 0 {
				return fmt.Errorf("%d omens repeated, out of range or incomplete", bad)
			}
			if err := sut.failed(ctx); err != nil {
				return fmt.Errorf("%v (%d of %d omens)", err, rc.omens.Load(), cfg.Rituals)
			}
			if n := rc.omens.Load(); n != last {
				last, lastAt = n, time.Now()
			} else if time.Since(lastAt) > cfg.Stall {
				return fmt.Errorf("stalled: %d of %d omens, none for %v (%d organ calls)", n, cfg.Rituals, cfg.Stall, rc.totalHandled())
			}
		}
	}
}

func round(x float64, digits int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func writeAllocProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
