package redis

// ReadsUnderWay reports how many blocking reads b has under way, for the
// conformance suite's Waiting hook.
func ReadsUnderWay(b *Backend) int { return int(b.reader.blocked.Load()) }

// ReadAheads reports how many read-aheads b has started.
func ReadAheads(b *Backend) int64 { return b.aheads.Load() }
