package redis

// Log keys of the backend's own lines, beside core's (core.KeyError,
// core.KeyReason, core.KeyAttempt). They are stable: alerts may rely on them.
const (
	keyStream          = "stream"
	keyGroup           = "group"
	keyEntryID         = "entry_id"          // the stream entry a line is about
	keyFromConsumer    = "from_consumer"     // whom a reclaimed entry was taken from
	keyConsumers       = "consumers"         // names removed from the group, comma-separated
	keyRemoved         = "removed"           // entries a trim removed
	keyMinID           = "min_id"            // the id a trim kept everything from
	keyDeadLetterError = "dead_letter_error" // why an entry could not be dead-lettered
	keyEntries         = "entries"           // how many entries a line is about
	keyEntryIDs        = "entry_ids"         // which, comma-separated
	keyStartID         = "start_id"          // where a re-created group starts
	keyHeldBy          = "held_by"           // the group that holds a trim back
	keyLength          = "length"            // the stream's length
	keyPartition       = "partition"         // which partition of a partitioned stream
	keyOwner           = "owner"             // the worker that owns a partition (ordered mode)
	keyToken           = "token"             // the token of a partition's lease (ordered mode)
	keyLeft            = "left"              // how long another's lease still lasts
	keyInFlight        = "in_flight"         // deliveries still being handled
	keyHeads           = "heads"             // claimed entries that were first of their key
)
