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
package memory
