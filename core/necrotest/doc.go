// Package necrotest helps test NecroStack organs and backends, the way
// net/http/httptest helps test HTTP handlers.
//
// # Running organs to quiescence
//
// Run feeds seed events to a set of organs through a real core.Spine on an
// in-process queue, one event at a time in FIFO order, until nothing is left
// to handle. It returns a Trace: every event in the order it was enqueued,
// with the event it was emitted for and the organ that emitted it, and the
// dead letters. No external service, no workflow engine, no sleeps: the same
// organs and seeds give the same Trace on every run.
//
//	tr := necrotest.Run(t, []core.Organ{&Summoner{}, &Medium{}}, seed)
//	tr.AssertChain(t, seed.ID(), "SPIRIT_APPEARED", "ANSWER_GENERATED")
//	tr.AssertNoDeadLetters(t)
//
// Retries in the harness wait a microsecond instead of the production
// backoff (Config.Retry runs the real one: see Virtual time); the number of
// attempts is the production default unless Config.MaxAttempts says
// otherwise. Events are bounded as the Redis backend
// bounds them by default (Config.MaxEventBytes, 1 MiB): an organ emitting a
// larger one has its input dead-lettered (core.ReasonCommitRejected), as it
// would in production.
//
// Each Assert… (AssertTypes, AssertCount, AssertChain, AssertNoDeadLetters)
// reports and lets the test go on; its Require… twin stops the test, so that
// what follows may rely on what it checked. RequireEmitted returns the typed
// payloads emitted for an event:
//
//	tr.RequireCount(t, "SPIRIT_APPEARED", 1)
//	spirits := necrotest.RequireEmitted(t, tr, seed.ID(), SpiritAppeared)
//
// # Virtual time
//
// Config.Retry runs the production retry policy instead of microsecond
// waits. Under testing/synctest the waits pass in virtual time, at once and
// deterministically, and Trace.Calls records when each organ call started,
// so a test can assert the schedule:
//
//	synctest.Test(t, func(t *testing.T) {
//		tr, _ := necrotest.RunWith(ctx, necrotest.Config{Retry: &core.RetryPolicy{}}, organs, seed)
//		calls := tr.CallsOf("Medium", id) // Attempt, At, Err of each call
//	})
//
// # Fakes
//
// A Fake stands in for an organ by name: it emits what it is told (Emit,
// Do), fails its first calls (FailFirst), panics (Panic) or takes a while
// (Takes, virtual under synctest), and records its calls (Calls,
// AssertCalled, AssertNotCalled, AssertTimes). Replace swaps fakes into a
// list of organs:
//
//	medium := necrotest.NewFake("Medium").FailFirst(2, nil).Emit("ANSWER_GENERATED", answer)
//	tr := necrotest.Run(t, necrotest.Replace(t, organs, medium), seed)
//	medium.AssertTimes(t, 3)
//
// # One organ alone
//
// Handle calls one organ once with an event, through a Spine (so with the
// context the Spine gives, a panic as a *core.PanicError), and returns what
// it emitted and its error, with no retries and nothing else run:
//
//	out, err := necrotest.Handle(t, Summoner{}, seed)
//
// # Golden traces, pictures and replays
//
// Canonical renders a trace as a tree: each seed, then what was emitted
// for it depth first, siblings sorted, ids renamed e1, e2 … and other
// UUIDs u1, u2 …, times masked (or offsets, with Times, under synctest).
// It is the same on every run and at any Concurrency or pull order, so it
// compares lineage as a partial order. Golden compares it with a file,
// which `go test -update` (or NECROTEST_UPDATE=1) writes:
//
//	tr.Golden(t, "testdata/seance.golden")
//
// Mermaid draws the chain; the failures of Golden and of the Require…
// checks of a chain's shape include the drawing.
//
// LoadChain reads a chain exported from a stream (`necro trace STREAM ID
// --format export`), and Replay runs its seeds through today's organs and
// fails the test where the chain they make differs from the recorded one:
//
//	necrotest.Replay(t, organs, "testdata/ritual.chain.json")
//
// # Over a real backend, and concurrently
//
// Config.Backend runs the chain over a backend of the test's (the Redis
// backend on miniredis, the memory backend in a synctest bubble) instead
// of the in-process queue. Config.Concurrency runs several events at once,
// and Config.Shuffle seeds the order they are pulled in.
//
// # Backend conformance
//
// TestBackend is the suite every backend passes: FIFO, a pull timeout that
// returns none, cancellation, ack, concurrent producers and consumers, close,
// and the optional capabilities (commit, batch commit, release, dead
// letters). A backend's own tests call it with a constructor, and where
// they can count the Pulls waiting inside the backend, BackendSuite.Waiting,
// so that the subtests of a blocked Pull need not guess when it blocks:
//
//	func TestConformance(t *testing.T) {
//		necrotest.TestBackend(t, necrotest.BackendSuite{
//			New: func(t *testing.T) core.Backend { return memory.New(memory.Config{}) },
//		})
//	}
package necrotest
