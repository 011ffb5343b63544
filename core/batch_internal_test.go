package core

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// downThenLost fails every commit of its first batch call (the backend is
// down), then answers that each delivery is gone (the first attempt had
// committed after all, and only its answer was lost).
type downThenLost struct{ calls int }

func (b *downThenLost) Commit(context.Context, Delivery, Outcome) error { return nil }
func (b *downThenLost) CommitBatch(_ context.Context, commits []Commit) []error {
	b.calls++
	errs := make([]error, len(commits))
	for i := range errs {
		if b.calls == 1 {
			errs[i] = fmt.Errorf("dial tcp: connection refused")
		} else {
			errs[i] = fmt.Errorf("entry gone: %w", ErrDeliveryLost)
		}
	}
	return errs
}

// A batch that fails for one reason logs it once, with how many commits it
// stands for, not once per commit.
func TestBatchCommitLogsOncePerReason(t *testing.T) {
	var logs bytes.Buffer
	be := &downThenLost{}
	finished := 0
	b := &batcher{
		committer: committer{log: slog.New(slog.NewJSONHandler(&logs, nil)), stats: &counters{}, release: func(Delivery) {}, halt: func(error) {}},
		backend:   be, ctx: context.Background(), max: DefaultMaxCommitBatch, done: func() { finished++ },
	}
	batch := make([]pendingCommit, 10)
	for i := range batch {
		batch[i] = pendingCommit{d: Delivery{Event: MustEvent("A", nil)}}
	}
	b.commit(batch)
	if finished != 10 || be.calls != 2 {
		t.Fatalf("finished %d commits in %d calls, want 10 in 2", finished, be.calls)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 ||
		!strings.Contains(lines[0], `"level":"WARN","msg":"commit failed; retrying"`) || !strings.Contains(lines[0], `"commits":10`) ||
		!strings.Contains(lines[1], `"level":"INFO","msg":"commit retry found the delivery gone`) || !strings.Contains(lines[1], `"commits":10`) {
		t.Errorf("log lines:\n%s\nwant one WARN for the failed round and one INFO for the retry, each with commits 10", logs.String())
	}
}
