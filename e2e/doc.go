// Package e2e holds NecroStack's end-to-end tests: the apps' real binaries
// run as worker processes against a real Redis, which the tests kill,
// restart, starve and feed garbage, and every scenario checks exact counts
// from Redis and from the workers' output. The package itself is empty; the
// scenarios are its tests, and its helpers are the packages redisenv (a
// Redis per test, in Docker or as a child process) and the worker module's
// workertest (the apps' commands, built once, run as processes).
//
// # Running
//
// From the repository root:
//
//	go tool mage e2e
//
// or directly, in this folder:
//
//	TESTCONTAINERS_RYUK_DISABLED=true go test -count=1 -v ./...
//
// Each test starts its own Redis: a container through testcontainers-go
// when a Docker engine answers, else a redis-server child process (see
// package redisenv for the image and the environment variables); the
// telemetry scenario also needs Debian's prometheus on PATH. The first
// line of output says which kind ran. NECROSTACK_E2E_REQUIRE_DOCKER=1 turns
// a missing Docker engine into a failure, as CI does;
// NECROSTACK_E2E_REDIS_KIND=process runs without Docker on purpose. The
// apps' commands are built from the repository once per run;
// NECROSTACK_E2E_SEANCE_BIN and NECROSTACK_E2E_ETL_BIN name prebuilt
// binaries instead. -short skips the scenarios.
//
// Every scenario bounds itself (two or three minutes) and removes its
// containers and processes when it ends, whatever the outcome; a test binary
// killed from outside leaves no worker behind (they die with it) and its
// containers are removed by the next run. The whole suite takes about half
// a minute on two cores. The longest wait is the reclaim in
// TestWorkerKilled: the claim idle time, which its workers set to 5s with
// -claim-min-idle (the backend's default is 30s).
//
// # What each scenario proves
//
// Workers are `seance -mode worker` (four rituals in flight each) and
// `etl -mode worker`, two per scenario, in one consumer group; work is
// enqueued with `-mode emit`. Counts are taken from the workers' stdout
// (each ritual's header names its séance and number), from their JSON logs,
// and from Redis: the stream read whole with XRANGE and counted per chain
// and event type, XPENDING and the group's lag, the dead-letter stream.
// Faults are injected once the group has acknowledged a tenth of a run's
// entries, as Redis counts them: a backlog is worked through stage by stage,
// so omens only appear in the last quarter of a run.
//
//   - TestChains (1): 1,000 rituals of the séance and 20 ETL jobs, each
//     chain shared by two workers: every ritual yields exactly one omen and
//     every job one report; each of the chain's four events is in the stream
//     exactly once; nothing pending, no lag, no dead letter.
//   - TestRedisKilledAndRestarted (2): Redis is killed (SIGKILL, container
//     kill) mid-run and restarted with its append-only file (appendfsync
//     always). The workers keep running, reconnect and finish: 0 rituals
//     lost, and 0 emitted events duplicated: each SPIRIT_APPEARED,
//     ANSWER_GENERATED and OMEN_REVEALED of each ritual is in the stream
//     exactly once, in one entry, which is what the atomic commit of
//     emitted events with the acknowledgement promises.
//   - TestRedisRestartedWithoutPersistence (3): Redis, without persistence,
//     is killed mid-run and restarted, losing stream and group. The workers re-create the group,
//     log that the group was lost, and serve a séance emitted afterwards
//     completely; nothing of the old séance resurfaces. The test reports how
//     much of the old séance was lost with Redis's data.
//   - TestWorkerKilled (4): a worker is killed with SIGKILL mid-run. The
//     survivor reclaims exactly the entries it left pending and finishes:
//     0 lost, each event in the stream once. A ritual the victim printed
//     and died before committing is printed again: the allowed repeat of a
//     handler's side effect under at-least-once, reported by the test.
//   - TestPoison (5): workers whose Oracle fails for every tenth ritual
//     (seance -fail-organ Oracle -fail-every 10). Those rituals land in the
//     dead-letter stream with the organ, the error and the attempts; every
//     other ritual completes. New workers without the fault and
//     `seance -mode redrive` then complete them: one omen per ritual.
//   - TestGarbage (6): entries written straight to the stream (not JSON,
//     unknown fields, no type, invalid type or id, a payload that is not an
//     object, trailing data, no event field, extra fields, over 1 MiB, an
//     unknown event type, an invalid ritual) each land once in the
//     dead-letter stream with their reason and error; the séances emitted
//     around them complete and no worker stops.
//   - TestRedisNotYetUp (7): the workers start before Redis. They warn once,
//     back off (a handful of failed pulls in eight seconds, not a busy
//     loop), and work as soon as Redis is up.
//   - TestGracefulStop (8): SIGTERM to a worker under load. It finishes
//     and commits what is in flight, hands back what it read but did not
//     start, exits 0 with nothing pending in its name; the other worker
//     finishes the run, and every ritual has exactly one omen.
//   - TestTelemetry (9): two workers serving /metrics (-listen) and
//     writing their spans (-traces, -trace-hops parent), scraped every
//     second by a real Prometheus (Debian's prometheus package, started by
//     the test on a loopback port; NECROSTACK_E2E_PROMETHEUS_BIN names
//     another binary). Queried over its HTTP API, Prometheus counts exactly
//     4 handled calls per ritual over the two workers, as many dead letters
//     committed as the dead-letter stream holds, and a lag and pending
//     count of 0; the spans of the emit and of both workers, joined by
//     trace id, make each ritual one trace (a send, four process, three
//     create and four settle spans, each delivery the child of the span
//     that produced its event), at least one crossing both workers (266 of
//     300 in a run on two cores).
package e2e
