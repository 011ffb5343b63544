package redis

import "context"

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
	o.relay.wait()
	o.lanes.close()
	if o.ownRDB {
		_ = o.rdb.Close()
	}
}

// RelayAndDie relays partition i's outbox as a relay that dies before it
// deletes what it relayed would.
func RelayAndDie(ctx context.Context, pb *Partitioned, i int) error {
	_, err := pb.relay.relayBatch(ctx, pb.parts[i], i, true)
	return err
}
