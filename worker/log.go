package worker

// Log keys of the runtime's own lines, beside core's. They are stable:
// alerts may rely on them.
const (
	keyMode         = "mode"
	keyStream       = "stream"
	keyConcurrency  = "concurrency"
	keySeeded       = "seeded"
	keyPulled       = "pulled"
	keyFailed       = "failed"
	keyDeadLettered = "dead_lettered"
	keyListen       = "listen"
	keyBackend      = "backend"
	keyRedisURL     = "redis_url" // without its password
	keyGroup        = "group"
	keyConsumer     = "consumer"
	keyClaimMinIdle = "claim_min_idle_ms"
	keyPartitions   = "partitions"
	keyOrdered      = "ordered"
)
