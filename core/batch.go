package core

import (
	"context"
	"sync"
)

// BatchCommitter is implemented by backends that commit the outcomes of many
// deliveries in one round trip, each still atomic on its own: a pipeline,
// not a transaction over the batch. The Spine then commits in the background
// while its organs go on with the next events, and sends whatever has
// accumulated as one batch, up to MaxCommitBatch.
//
// CommitBatch returns one error per commit, in order (nil where it
// succeeded), with the meaning Commit gives them; or nil when all succeeded.
type BatchCommitter interface {
	Committer
	CommitBatch(ctx context.Context, commits []Commit) []error
}

// Commit is one delivery's outcome, for CommitBatch.
type Commit struct {
	Delivery Delivery
	Outcome  Outcome
}

type pendingCommit struct {
	d        Delivery
	out      Outcome
	attempt  int
	rejected bool
	finish   func()
}

// batcher commits outcomes in the background, in the order they were added,
// as few batches as possible: while one batch is on its way, the next
// accumulates. Adding waits when MaxCommitBatch commits are already queued,
// which bounds the work a crash can make the group redo.
type batcher struct {
	s    *Spine
	ctx  context.Context
	ch   chan pendingCommit
	done chan struct{}
	once sync.Once
}

func newBatcher(s *Spine, ctx context.Context) *batcher {
	b := &batcher{s: s, ctx: ctx, ch: make(chan pendingCommit, s.opts.MaxCommitBatch), done: make(chan struct{})}
	go b.loop()
	return b
}

func (b *batcher) add(pc pendingCommit) { b.ch <- pc }

// close commits what is queued and returns when that is done.
func (b *batcher) close() {
	b.once.Do(func() { close(b.ch) })
	<-b.done
}

func (b *batcher) loop() {
	defer close(b.done)
	max := b.s.opts.MaxCommitBatch
	batch := make([]pendingCommit, 0, max)
	for pc := range b.ch {
		batch = append(batch[:0], pc)
	fill:
		for len(batch) < max {
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
// retrying the failed ones together with backoff.
func (b *batcher) commit(batch []pendingCommit) {
	ctx, s := b.ctx, b.s
	commits := make([]Commit, 0, len(batch))
	var cl commitLog
	for round := 1; len(batch) > 0; round++ {
		commits = commits[:0]
		for _, pc := range batch {
			commits = append(commits, Commit{Delivery: pc.d, Outcome: pc.out})
		}
		errs := s.batch.CommitBatch(ctx, commits)
		retry := batch[:0]
		wait := false
		for i, pc := range batch {
			var err error
			if errs != nil {
				err = errs[i]
			}
			pc.attempt++
			again, newOut := s.commitFailed(ctx, pc.d, pc.out, err, pc.attempt, &pc.rejected, &cl)
			if !again {
				pc.finish()
				continue
			}
			if newOut != nil {
				pc.out = *newOut
			} else {
				wait = true
			}
			retry = append(retry, pc)
		}
		cl.flush(ctx, s.log)
		batch = retry
		if wait && len(batch) > 0 {
			sleep(ctx, commitBackoff.Backoff(round))
		}
	}
}
