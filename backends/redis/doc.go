// Package redis is NecroStack's Redis Streams backend: durable events shared
// by many worker processes, with consumer groups, an atomic commit of emitted
// events and acknowledgement, reclaim of entries stuck with dead workers, a
// dead-letter stream with redrive, and reconnection.
//
// # Streams and entries
//
// Events live in one stream (Config.Stream, "necrostack:events" by default),
// each as an entry with a single field, "event", holding the event's JSON wire
// form. Enqueue is an XADD. Dead letters go to a second stream
// (Config.DeadLetterStream, "<stream>:dlq" by default) whose entries hold the
// event, the organ, the reason, the error, the attempts, the time and the
// original entry id.
//
// # Modes
//
// ModeGroup, the default, reads through a consumer group with XREADGROUP
// (a finite BLOCK; a COUNT of about what the consumer hands out in 20ms, at
// most Config.Batch) and acknowledges with XACK. The group
// is created with MKSTREAM from the start of the stream, so nothing enqueued
// before the first worker starts is missed. ModeStream reads with XREAD from
// the end of the stream as it was at New, without acknowledgements or
// redelivery.
//
// # Commit
//
// Commit runs one Lua script that checks the input entry is still pending for
// this consumer, then XADDs the emitted events and the dead letters and XACKs
// the input. Nothing is written if the check fails (core.ErrDeliveryLost:
// another consumer reclaimed the entry) or if a key holds the wrong type, so a
// crash or a race can neither lose the emitted events nor write them twice.
// Both keys are in the script's KEYS; on Redis Cluster give the stream a hash
// tag ("{necrostack}:events") so they share a slot.
//
// # Reclaim and dead letters
//
// Every Config.ClaimInterval a consumer lists the entries pending for longer
// than Config.ClaimMinIdle on any consumer (XPENDING IDLE) and claims them
// (XCLAIM with the same min-idle, so two consumers never both take one). An
// entry already delivered Config.MaxDeliveries times is dead-lettered with
// ReasonMaxDeliveries instead. In the same round, consumers with nothing
// pending that have not been seen for Config.ClaimMinIdle (workers that are
// gone) are removed from the group. At start, and after a read or claim that
// failed (Redis may have run it and the reply been lost), a consumer takes back at
// once the entries pending under its own name that it does not hold: those
// of a lost reply, or of a previous process with the same Config.Consumer.
// Entries that are not valid events (not JSON,
// unknown fields, a missing or invalid type or id, no "event" field, larger
// than Config.MaxEventBytes) are dead-lettered with ReasonMalformed or
// ReasonOversized and acknowledged as they are read; they never reach the
// Spine and never stop the consumer. DeadLetters, DeadLetterCount and Redrive
// inspect the dead-letter stream and hand events back to the main stream.
//
// # Failures of Redis
//
// go-redis reconnects by itself; the Backend returns the errors of a pull or a
// commit to the Spine, which backs off with jitter, logs one line per outage
// and one when it ends, and retries commits. A lost group (NOGROUP, after a
// restart without persistence) is re-created and logged; what it had pending
// is gone with it. Reads block for at most Config.Block, so a cancelled
// context ends a Pull within that time.
//
// # Guarantees
//
// At-least-once handling: an event is acknowledged only together with the
// events its organs emitted, so a crash never loses an event and never
// duplicates what an organ emitted for it; a handler's own side effects may
// repeat when an entry is redelivered (use the event id as the idempotency
// key). Surviving a Redis restart without loss needs Redis persistence
// (appendonly yes; appendfsync always to lose nothing on a crash).
//
// # Logs
//
// The backend logs through Config.Logger with core's keys (error, reason,
// attempt) and its own: stream, group, entry_id (the stream entry a line is
// about), from_consumer (whom a reclaimed entry was taken from), consumers
// (idle consumers removed), removed and min_id (a trim), and
// dead_letter_error (why a bad entry could not be dead-lettered).
//
// # Trimming
//
// Config.Trim optionally trims the stream by length or age with XTRIM MINID ~,
// never below the oldest entry the group has pending or has not delivered yet.
package redis
