package memory

// WaitingPulls returns how many Pull calls are blocked in b waiting for an
// event, for necrotest.BackendSuite.Waiting.
func WaitingPulls(b *Backend) int { return int(b.waiting.Load()) }

// EnqueueWaiting reports whether an Enqueue into b's full queue is waiting
// for room.
func EnqueueWaiting(b *Backend) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.roomWaited
}
