// Package necrotel instruments NecroStack with OpenTelemetry: spans that
// follow the messaging semantic conventions, metrics, and trace context
// carried in events' headers from one process to the next.
//
// Install a Telemetry in a Spine's configuration with Instrument:
//
//	tel, err := necrotel.New(necrotel.Config{Stream: "orders", Group: "billing"})
//	...
//	var cfg core.Config
//	tel.Instrument(&cfg) // a Middleware, and an Observer chained with any already there
//	spine, err := core.NewSpine(backend, organs, cfg)
//
// Each organ call is then a process span (CONSUMER) and each event an organ
// emits has a create span (PRODUCER), whose context goes into the event's
// headers (traceparent, tracestate, baggage); each commit is a settle span.
// The process span of the next hop, in whichever process handles the event,
// links to that context, or, with Config.Parent, is its child: then a
// chain, from the seed that Send enqueued to its last organ, is one trace.
// Every span carries messaging.message.conversation_id, the chain id.
//
// The metrics are the semantic conventions' messaging.process.duration,
// messaging.client.consumed.messages and messaging.client.sent.messages,
// and NecroStack's own (the Metric constants): calls handled and failed,
// retries, dead letters by organ and reason, releases, commit batch sizes
// and durations, and, with ObserveStream, a stream's length, its dead
// letters, and each group's lag and pending count. A Prometheus exporter
// serves them as messaging_process_duration_seconds, necrostack_handled_total
// and so on.
//
// LogHandler adds trace_id and span_id to the log lines an organ writes with
// its context.
//
// With OpenTelemetry's no-op TracerProvider (trace/noop), a Telemetry makes
// no span: it records the metrics and passes the trace context events
// carry on to the events emitted from them. A Spine without one pays
// nothing.
package necrotel
