package redis

// ReadsUnderWay reports how many blocking reads b has under way, for the
// conformance suite's Waiting hook.
func ReadsUnderWay(b *Backend) int { return int(b.reader.blocked.Load()) }

// ReadAheads reports how many read-aheads b has started.
func ReadAheads(b *Backend) int64 { return b.aheads.Load() }

// Abandon stops o as a crash would: its loops stop, and it neither releases
// its leases nor leaves the members; its client is closed.
func Abandon(o *Ordered) {
	o.begin()
	o.stop()
	o.loops.Wait()
	o.lanes.close()
	if o.ownRDB {
		_ = o.rdb.Close()
	}
}
