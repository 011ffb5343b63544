// Package worker turns a set of organs into a production process in a few
// lines:
//
//	func main() {
//		worker.Main(worker.App{
//			Name:   "orders",
//			Stream: "orders:events",
//			Organs: func(*worker.Process) ([]core.Organ, error) {
//				return []core.Organ{Validator{}, Charger{}, Shipper{}}, nil
//			},
//		})
//	}
//
// The process takes its configuration from flags and NECROSTACK_*
// environment variables (a flag wins), runs in one of four modes, stops
// gracefully on SIGINT or SIGTERM, and exits with a code that says what
// happened. An optional HTTP listener serves /healthz, /readyz and what the
// app adds (such as /metrics).
//
// # Modes
//
//   - run: enqueue the app's seeds, handle events until the chain is done
//     (or the app calls Process.Finish), then report. The default when the
//     app has seeds.
//   - worker: handle what is in the stream until a signal, then let the
//     events in flight finish and hand back the rest. The default when it
//     has none. Needs -backend redis.
//   - emit: enqueue the seeds and exit. Needs -backend redis.
//   - redrive: move the dead letters back to the stream. Needs -backend
//     redis.
//
// An app without seeds of its own reads them, for run and emit, as JSON
// lines from -input (standard input by default): either an event's wire
// form or {"event_type": "…", "payload": {…}}.
//
// # Configuration
//
//	flag               environment                  default
//	-mode              NECROSTACK_MODE              run with seeds, else worker
//	-backend           NECROSTACK_BACKEND           App.Backend, else memory
//	-redis-url         NECROSTACK_REDIS_URL         redis://localhost:6379/0
//	-stream            NECROSTACK_STREAM            App.Stream, else necrostack:events
//	-group             NECROSTACK_GROUP             necrostack
//	-consumer          NECROSTACK_CONSUMER          <host>-<pid>-<random>
//	-partitions        NECROSTACK_PARTITIONS        1
//	-ordered           NECROSTACK_ORDERED           false
//	-lease-ttl         NECROSTACK_LEASE_TTL         10s
//	-wait-replicas     NECROSTACK_WAIT_REPLICAS     0
//	-concurrency       NECROSTACK_CONCURRENCY       1
//	-claim-min-idle    NECROSTACK_CLAIM_MIN_IDLE    30s
//	-handler-timeout   NECROSTACK_HANDLER_TIMEOUT   none
//	-shutdown-timeout  NECROSTACK_SHUTDOWN_TIMEOUT  10s
//	-log-level         NECROSTACK_LOG_LEVEL         App.LogLevel (info)
//	-log-format        NECROSTACK_LOG_FORMAT        json (or text)
//	-listen            NECROSTACK_LISTEN            off
//	-input             NECROSTACK_INPUT             - (standard input)
//	-traces            NECROSTACK_TRACES            off
//	-trace-hops        NECROSTACK_TRACE_HOPS        link (or parent)
//
// -partitions P (worker and emit) splits the stream into P partitions, each
// a stream in a hash slot of its own (redis.NewPartitioned): on a Redis
// Cluster (a -redis-url with cluster=true) they spread over the nodes. An
// event goes to its key's partition. Every process of the stream must give
// the same P. -ordered (worker) gives each partition one owner among the
// workers at a time, so that the events of one key are handled in order
// (redis.NewOrdered); -lease-ttl is how soon a dead worker's partitions are
// taken over.
//
// A flag that would have no effect in the mode or on the backend chosen is
// refused, rather than let a user believe it did something; a variable in
// the environment is only checked for its value. Errors never show the
// Redis password.
//
// # HTTP
//
// -listen ADDR serves, on ADDR (a bare port such as :9464 means
// 127.0.0.1:9464; give 0.0.0.0:9464 to listen on every interface):
//
//   - /healthz: 200 while the process runs;
//   - /readyz: 200 when the backend answers and lets this process do what
//     it needs (on Redis, Backend.Ready: a ping and a check of every
//     command the backend sends), 503 with the reason otherwise;
//   - /metrics: the OpenTelemetry metrics of package necrotel (calls,
//     retries, dead letters, commits; on Redis, the stream's length, its
//     dead letters, each group's lag and pending count) with Go's runtime
//     metrics, in Prometheus's text format;
//   - whatever App.HTTP adds.
//
// # Traces
//
// -traces FILE writes every span of package necrotel (send for the seeds,
// then process, create and settle for each delivery) to FILE, one JSON
// object per line as OpenTelemetry's stdout exporter writes them. The trace
// context travels in the events' headers, so that the spans of a chain
// handled by several workers join up: by links (-trace-hops link), or as one
// trace (-trace-hops parent). Process.Telemetry gives the app the same
// instrumentation, for its own producers. Without -traces and -listen the
// runtime installs none.
//
// # Exit status
//
//	0  done: the run completed, the events were enqueued or redriven, or
//	   the worker was stopped by a signal
//	1  the work failed: App.End said so, a run was interrupted, an emit was
//	   cut short, dead letters could not be redriven
//	2  bad flags or environment
//	3  the backend could not be reached when the mode needed it at once
//	   (run, emit, redrive); a worker waits for it instead
//	4  the backend refused for good (core.ErrFatal): a password, a
//	   permission, a key of the wrong type, a server too old
package worker
