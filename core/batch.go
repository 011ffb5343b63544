package core

import (
	"context"
	"sync"
	"time"
)

// BatchCommitter is implemented by backends that commit the outcomes of many
// deliveries in one round trip, each still atomic on its own: a pipeline,
// not a transaction over the batch. The Spine then commits in the background
// while its organs go on with the next events, and sends whatever has
// accumulated as one batch, up to MaxCommitBatch.
//
// CommitBatch returns one error per commit, in order (nil where it
// succeeded), with the meaning Commit gives them; or nil when all succeeded.
// It must not keep commits once it has returned: the Spine reuses the slice
// for its next batch.
type BatchCommitter interface {
	Committer
	CommitBatch(ctx context.Context, commits []Commit) []error
}

// Commit is one delivery's outcome, for CommitBatch.
type Commit struct {
	Delivery Delivery
	Outcome  Outcome
}

// batcher commits outcomes in the background, in the order they were added,
// in as few batches as possible: while one batch is on its way, the next
// accumulates. Adding waits when max commits are already queued, which
// bounds the work a crash can make the group redo.
//
// It needs from the Spine only what settling a commit needs (committer) and
// a way to say that a delivery is done with.
type batcher struct {
	committer
	backend BatchCommitter
	ctx     context.Context // the run's handlers' context
	max     int             // Config.MaxCommitBatch
	done    func()          // called once per delivery whose commit is settled
	commits []Commit        // what commit hands the backend, reused from batch to batch
	ch      chan pendingCommit
	stopped chan struct{}
	once    sync.Once
}

// startBatcher starts a batcher over backend. Close it to wait for its
// goroutine.
func startBatcher(ctx context.Context, c committer, backend BatchCommitter, max int, done func()) *batcher {
	b := &batcher{
		committer: c, backend: backend, ctx: ctx, max: max, done: done,
		ch: make(chan pendingCommit, max), stopped: make(chan struct{}),
	}
	go b.loop()
	return b
}

// add queues pc, a delivery's outcome not yet attempted, for the next batch.
func (b *batcher) add(pc *pendingCommit) { b.ch <- *pc }

// close commits what is queued and returns when that is done.
func (b *batcher) close() {
	b.once.Do(func() { close(b.ch) })
	<-b.stopped
}

func (b *batcher) loop() {
	defer close(b.stopped)
	batch := make([]pendingCommit, 0, b.max)
	for pc := range b.ch {
		batch = append(batch[:0], pc)
	fill:
		for len(batch) < b.max {
			select {
			case pc, ok := <-b.ch:
				if !ok {
					break fill
				}
				batch = append(batch, pc)
			default:
				break fill
			}
		}
		b.commit(batch)
	}
}

// commit sends batch until every commit in it has succeeded or been given up,
// retrying the failed ones together, after a backoff (backendRetry) unless
// all of them are retried at once with a dead letter.
func (b *batcher) commit(batch []pendingCommit) {
	ctx := b.ctx
	commits := b.commits[:0]
	filled := len(batch) // the first round fills the most: a retry round's are fewer
	defer func() {
		// The outcomes are done with: not kept alive until the next batch.
		// Each batch clears what it filled, so the array is clear after.
		clear(commits[:filled])
		b.commits = commits[:0]
	}()
	var cl commitLog
	for round := 1; len(batch) > 0; round++ {
		commits = commits[:0]
		for _, pc := range batch {
			commits = append(commits, Commit{Delivery: pc.d, Outcome: pc.out})
		}
		var start time.Time
		if b.observe.timing() {
			start = time.Now()
		}
		errs := b.backend.CommitBatch(ctx, commits)
		info := attemptInfo{batch: len(commits)}
		if !start.IsZero() {
			info.took = time.Since(start)
		}
		retry := batch[:0]
		wait := false
		for i := range batch {
			var err error
			if errs != nil {
				err = errs[i]
			}
			pc := &batch[i]
			switch b.settle(ctx, pc, err, &cl, info) {
			case settled:
				b.done()
				continue
			case retryLater:
				wait = true
			}
			retry = append(retry, *pc)
		}
		cl.flush(ctx, b.log)
		batch = retry
		if wait && len(batch) > 0 {
			sleep(ctx, backendRetry.Backoff(round))
		}
	}
}
