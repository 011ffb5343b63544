package redis

// ReadsUnderWay reports how many blocking reads b has under way, for the
// conformance suite's Waiting hook.
func ReadsUnderWay(b *Backend) int { return int(b.reader.blocked.Load()) }
