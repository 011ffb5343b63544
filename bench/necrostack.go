package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/backends/memory"
	"github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/core"
	"github.com/necrostack/necrostack/necrotel"
)

// The chain's kinds: one per event type, all carrying a Ritual.
var (
	SummonRitual    = core.NewKind[Ritual](typeSummon)
	SpiritAppeared  = core.NewKind[Ritual](typeSpirit)
	AnswerGenerated = core.NewKind[Ritual](typeAnswer)
	OmenRevealed    = core.NewKind[Ritual](typeOmen)
)

// Summoner turns a summons into a spirit.
type Summoner struct{ rec *recorder }

func (Summoner) Listens() []string { return []string{SummonRitual.Type()} }

func (o Summoner) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	return step(o.rec, stageSummoner, e, SummonRitual, SpiritAppeared, summon)
}

// Medium asks the spirit and gets an answer.
type Medium struct{ rec *recorder }

func (Medium) Listens() []string { return []string{SpiritAppeared.Type()} }

func (o Medium) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	return step(o.rec, stageMedium, e, SpiritAppeared, AnswerGenerated, channel)
}

// Oracle reads an omen in the answer.
type Oracle struct{ rec *recorder }

func (Oracle) Listens() []string { return []string{AnswerGenerated.Type()} }

func (o Oracle) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	return step(o.rec, stageOracle, e, AnswerGenerated, OmenRevealed, reveal)
}

// Scribe records the omen and its latency; it emits nothing.
type Scribe struct{ rec *recorder }

func (Scribe) Listens() []string { return []string{OmenRevealed.Type()} }

func (o Scribe) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	r, err := OmenRevealed.Decode(e)
	if err != nil {
		return nil, core.Permanent(err)
	}
	o.rec.organ(stageScribe)
	o.rec.omen(r)
	return nil, nil
}

func step(rec *recorder, stage int, e core.Event, from, to core.Kind[Ritual], add func(*Ritual)) ([]core.Event, error) {
	r, err := from.Decode(e)
	if err != nil {
		return nil, core.Permanent(err) // a bad payload stays bad
	}
	rec.organ(stage)
	add(&r)
	next, err := to.New(r)
	if err != nil {
		return nil, err
	}
	return core.Emit(next), nil
}

// delayed is an organ that waits (Config.HandlerDelay) before its work.
type delayed struct {
	core.Organ
	d time.Duration
}

func (o delayed) Handle(ctx context.Context, e core.Event) ([]core.Event, error) {
	if err := ioWait(ctx, o.d); err != nil {
		return nil, err
	}
	return o.Organ.Handle(ctx, e)
}

// necrostack runs the chain on one Spine, in this process, over the memory
// or the Redis backend. On Redis the seeds are written by the producer with
// pipelined XADDs of the events' wire form (the entry layout the backend
// documents: one field, "event"), so that seeding costs the worker as little
// as a separate producer process would.
type necrostack struct {
	cfg     Config
	rec     *recorder
	backend core.Backend
	closer  func() error
	spine   *core.Spine
	rdb     goredis.UniversalClient // Redis only: seeds and checks
	streams []string                // Redis only: the stream, or its partitions' streams
	dlqs    []string                // and their dead letters
	seeded  int                     // seeds written, for the partition of the next
	otel    *telemetry              // with Config.OTel

	cancel context.CancelFunc
	runErr chan error
}

// memoryCapacity bounds the memory backend's queue of seeds: above any
// Window, so that it binds only an open-loop producer past saturation.
const memoryCapacity = 16_384

// seedField is the stream entry field that holds an event's wire form.
const seedField = "event"

func newNecrostack(ctx context.Context, cfg Config, rec *recorder, tracer *phaseTracer, log *slog.Logger) (*necrostack, error) {
	s := &necrostack{cfg: cfg, rec: rec}
	switch cfg.Backend {
	case backendMemory:
		// A bounded queue, as in production: past saturation the producer
		// waits for room (and its seeds' latency counts the wait) instead
		// of the backlog growing in the worker's memory.
		b := memory.New(memory.Config{Capacity: memoryCapacity})
		s.backend, s.closer = b, b.Close
	case backendRedis:
		for i := range cfg.Partitions {
			st := redis.PartitionStream(cfg.Stream, i, cfg.Partitions)
			s.streams, s.dlqs = append(s.streams, st), append(s.dlqs, st+":dlq")
		}
		if err := requireFreshKeys(ctx, cfg, append(append([]string(nil), s.streams...), s.dlqs...)...); err != nil {
			return nil, err
		}
		rcfg := redis.Config{URL: cfg.RedisURL, Stream: cfg.Stream, Logger: log}
		if cfg.Ordered {
			b, err := redis.NewOrdered(ctx, rcfg, cfg.Partitions, redis.OrderedOptions{})
			if err != nil {
				return nil, err
			}
			s.backend, s.closer, s.rdb = b, b.Close, b.Partitions()[0].Client()
			break
		}
		if cfg.Partitions > 1 {
			b, err := redis.NewPartitioned(ctx, rcfg, cfg.Partitions)
			if err != nil {
				return nil, err
			}
			s.backend, s.closer, s.rdb = b, b.Close, b.Partitions()[0].Client()
			break
		}
		b, err := redis.New(ctx, rcfg)
		if err != nil {
			return nil, err
		}
		if err := b.Ping(ctx); err != nil {
			_ = b.Close()
			return nil, err
		}
		s.backend, s.closer, s.rdb = b, b.Close, b.Client()
	}
	organs := []core.Organ{Summoner{rec}, Medium{rec}, Oracle{rec}, Scribe{rec}}
	spineCfg := core.Config{
		MaxSteps:    core.NoStepLimit,
		Concurrency: cfg.Concurrency,
		Logger:      log,
	}
	if tracer != nil { // before any telemetry, which chains its Observer after it
		spineCfg.Observer = tracer.observer()
	}
	if cfg.OTel != OTelOff {
		var stream, group string
		if b, ok := s.backend.(*redis.Backend); ok {
			stream, group = b.Config().Stream, b.Config().Group
		}
		o, err := newTelemetry(stream, group, cfg.OTel)
		if err != nil {
			_ = s.closer()
			return nil, err
		}
		s.otel = o
		o.tel.Instrument(&spineCfg)
	}
	if cfg.HandlerDelay > 0 { // every organ waits first, as on an I/O call: innermost, inside any span
		spineCfg.Middleware = append(spineCfg.Middleware, func(o core.Organ) core.Organ { return delayed{o, cfg.HandlerDelay} })
	}
	spine, err := core.NewSpine(s.backend, organs, spineCfg)
	if err != nil {
		if s.otel != nil {
			_ = s.otel.shutdown(ctx)
		}
		_ = s.closer()
		return nil, err
	}
	s.spine = spine
	return s, nil
}

func (s *necrostack) start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(ctx)
	s.runErr = make(chan error, 1)
	go func() { s.runErr <- s.spine.Run(ctx) }()
	return nil
}

func (s *necrostack) seed(ctx context.Context, batch []Ritual) error {
	if s.rdb == nil {
		for _, r := range batch {
			e, err := SummonRitual.New(r)
			if err != nil {
				return err
			}
			if err := s.backend.Enqueue(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}
	pipe := s.rdb.Pipeline()
	for _, r := range batch {
		// Keyless seeds, to the partitions in turn, as Partitioned.Enqueue
		// spreads them; in ordered mode, keyed, to their key's partition.
		stream := s.streams[s.seeded%len(s.streams)]
		key := ""
		if s.cfg.Ordered {
			key = "seeker-" + strconv.Itoa(s.seeded%OrderedKeys)
			stream = s.streams[redis.PartitionOf(key, len(s.streams))]
		}
		e, err := core.Build(core.EventInit{Type: SummonRitual.Type(), Key: key, Payload: r})
		if err != nil {
			return err
		}
		wire, err := e.MarshalJSON()
		if err != nil {
			return err
		}
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []any{seedField, wire}})
		s.seeded++
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("seed %s: %w", s.cfg.Stream, err)
	}
	return nil
}

// failed reports a stopped worker or, on Redis, dead letters: either means
// some rituals will never complete.
func (s *necrostack) failed(ctx context.Context) error {
	select {
	case err := <-s.runErr:
		s.runErr <- err
		return fmt.Errorf("worker stopped early: %v", err)
	default:
	}
	for _, dlq := range s.dlqs {
		n, err := s.rdb.XLen(ctx, dlq).Result()
		if err != nil {
			return fmt.Errorf("count dead letters: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("%d entries dead-lettered to %s (if the reason is malformed_entry, the backend's entry layout changed: update seedField)", n, dlq)
		}
	}
	return nil
}

// stop stops the worker, checks the Spine's own count of organ calls, and
// deletes the run's keys.
func (s *necrostack) stop(ctx context.Context) error {
	s.cancel()
	errs := []error{<-s.runErr}
	if want, got := s.rec.totalHandled(), s.spine.Stats().Handled; got != want {
		errs = append(errs, fmt.Errorf("the Spine counted %d organ calls, the organs %d", got, want))
	}
	if s.otel != nil {
		got, err := s.otel.handled(ctx)
		if want := s.rec.totalHandled(); err == nil && got != want {
			err = fmt.Errorf("the %s metric counted %d organ calls, the organs %d", necrotel.MetricHandled, got, want)
		}
		errs = append(errs, err, s.otel.shutdown(ctx))
	}
	if s.rdb != nil {
		errs = append(errs, s.failed(ctx))
	}
	errs = append(errs, s.closer()) // which releases an ordered run's leases: their records go after
	if s.rdb != nil {
		errs = append(errs, s.deleteKeys(ctx))
	}
	return errors.Join(errs...)
}

// deleteKeys deletes the keys of the run: each partition's stream, dead
// letters, owner record, outbox and relay record, and the members.
func (s *necrostack) deleteKeys(ctx context.Context) error {
	rdb, err := newRedisClient(s.cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	errs := []error{rdb.Del(ctx, s.cfg.Stream+":members").Err()}
	for i := range s.streams { // one partition at a time: on a cluster each is in a slot of its own
		st := s.streams[i]
		errs = append(errs, rdb.Del(ctx, st, s.dlqs[i], st+":owner", st+":outbox", st+":relayed").Err())
	}
	return errors.Join(errs...)
}
