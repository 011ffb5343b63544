// Package bench measures NecroStack against Watermill on the same workload:
// the séance chain, four organs passing a small JSON payload along, on an
// in-memory transport and on Redis Streams. Its command, bench/cmd, prints one
// JSON line per run; `go tool mage bench` runs every comparison.
//
// # The chain
//
// A producer enqueues N rituals (SUMMON_RITUAL). The Summoner adds a spirit
// and emits SPIRIT_APPEARED, the Medium adds an answer (ANSWER_GENERATED), the
// Oracle an omen (OMEN_REVEALED), and the Scribe records the omen: four organ
// calls per ritual, each decoding the payload (ritual number, seeker,
// question, enqueue time, and the fields added so far) and, but for the
// Scribe, emitting the next event. The strings are picked from the ritual
// number, so every run does the same work. The Scribe checks that each
// ritual arrives once with every field right; a run fails unless exactly N
// omens arrive after exactly 4·N organ calls.
//
// NecroStack runs the organs as core.Organ values with core.Kind payloads on
// one Spine in this process (MaxSteps lifted, logs at Warn): the memory
// backend, or the Redis backend in its default consumer-group mode, where each
// event's emitted event and ack are committed atomically. Watermill runs them
// as message.Router handlers with encoding/json, no middleware, on a
// GoChannel or on watermill-redisstream with a consumer group. On memory,
// NecroStack's events keep the Go value they were built from, so its organs
// skip JSON decoding there; Watermill's messages are bytes, decoded by every
// handler. On Redis both decode JSON at every stage.
//
// # What is timed
//
// The workers are started first and left idle. Timing starts just before the
// producer builds the first seed and stops when the Scribe records the N-th
// omen; seeding runs concurrently with the workers, in the same process, and
// its cost is part of the figure for both systems alike.
//
//   - Rate 0 (throughput): the producer enqueues as fast as the system takes
//     seeds but keeps at most Window rituals in flight (enqueued, omen not
//     yet recorded): when the window is full it waits until half of it has
//     completed, then refills it in batches of up to 256. The window keeps
//     memory flat however many rituals run; 256 keeps both systems busy
//     (larger windows make Watermill's GoChannel slower and erratic, as it
//     spawns a goroutine per message in flight).
//   - Rate R > 0 (latency): the producer enqueues R rituals per second on a
//     fixed schedule, in batches of those due (about one per millisecond),
//     whether or not the system keeps up.
//
// On Redis, seeds go in one pipeline of XADDs per batch, for both systems,
// in the entry layout each system reads (NecroStack: one "event" field
// holding the event's wire form; Watermill: its default marshaller's fields):
// seeding should cost Redis and the worker what an efficient producer would,
// not a round trip per seed.
//
// # The figures
//
//   - handled, handled_per_s: organ calls (4 per ritual) over the timed
//     seconds.
//   - p50_ms, p99_ms, p999_ms: latency of a ritual from its enqueue (the
//     wall-clock time stamped in the seed when its batch was built or, with
//     a rate, when it was due, so that a producer held back counts the
//     wait) to the Scribe handling its omen, from a log-linear histogram
//     (error below 0.8%). Only meaningful with a rate: at rate 0 they
//     mostly measure the window. With a warm-up (Config.Warmup, -warmup D)
//     they leave out the rituals due in the run's first D.
//   - warmup_s, warmup_rituals, warmup_p50_ms, warmup_p99_ms (with a
//     warm-up only): its length, the rituals due in it, and their latency.
//   - rituals_per_s: rituals over the timed seconds, the rate achieved.
//   - worker_cpu_us_per_handled: the process's CPU time (getrusage, user and
//     system) while timed, per organ call, producer included.
//   - redis_cpu_us_per_handled (Redis only): redis-server's CPU time (INFO
//     cpu) while timed, per organ call; meaningful when nothing else uses
//     that server.
//   - allocs_per_handled: heap allocations (runtime.MemStats.Mallocs) of the
//     whole process between the start and the last omen, producer and Redis
//     client included, per organ call.
//   - max_rss_mb: the process's peak resident set (getrusage ru_maxrss),
//     MiB. The benchmark's own bookkeeping is fixed-size but for one bit per
//     ritual, so the figure shows whether a worker's memory stays flat.
//   - host_busy_pct, host_steal_pct (Linux only): the shares of the whole
//     host's CPU time (/proc/stat, every CPU and process) that were busy,
//     and that the hypervisor gave to other guests ("steal"), while timed.
//     Busy shows how near the machine was to saturation; on a shared
//     virtual machine, a run with more than a few percent stolen measured
//     its neighbours too, and only figures from runs with little steal
//     compare.
//   - phases (with -phases, NecroStack only): where the events' time went,
//     stage by stage, from the Spine's Observer: read (the commit that
//     emitted the event settled → its Pull), dispatch (Pull → its organ
//     starting), organ (the call, -handler-delay included) and commit (the
//     organ's return → its commit settled), each as n, mean, p50 and p99 in
//     µs, and the commit calls' durations and batch sizes. The four add up
//     to a stage; measuring them slows the run (a lock per phase of each
//     event), so they explain a run rather than replace one. They are
//     taken once the workers have stopped, so every event's are in.
//
// # Concurrency
//
// The memory backend's queue is bounded (memory.Config.Capacity 16,384
// seeds), so that past saturation an open-loop producer waits for room
// instead of the backlog filling the worker's memory.
//
// For NecroStack, Concurrency is core.Config.Concurrency: events handled at
// once by the one Spine. Watermill's router handles each message in its own
// goroutine, and its stages run at the same time; on Redis a subscription
// reads and acks one message at a time, so Concurrency gives each stage that
// many handlers (consumers in the group). A GoChannel has no consumer groups
// (each subscription gets every message) and already delivers messages
// without waiting for acks, so Watermill on memory runs with Concurrency 1
// only.
package bench
