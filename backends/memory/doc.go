// Package memory is NecroStack's in-memory backend: a FIFO queue with
// in-memory dead letters, for development, tests and programs that run a
// whole chain in one process.
//
// # Guarantees
//
// Each event is handled once within the process, in FIFO order with
// Concurrency 1. Nothing survives the process: events still queued, and dead
// letters, are gone when it exits.
//
// # Capacity
//
// The queue is unbounded by default. With Config.Capacity, Enqueue waits for
// room, which gives producers backpressure; the events a Spine commits are
// always accepted, so a Spine feeding its own queue cannot deadlock.
//
// # Event size
//
// Events of any size are accepted by default. With Config.MaxEventBytes set
// to a production backend's limit, an oversized event is refused here as it
// would be there: by Enqueue, and by Commit, so that the Spine dead-letters
// the input (core.ReasonCommitRejected) for the organ that emitted it.
package memory
