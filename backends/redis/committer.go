package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// committer writes outcomes with the commit script (scripts/commit.lua).
// The rules it keeps:
//   - A commit is all or nothing: its emitted events, its dead letters and
//     the acknowledgement of its input, in one script that checks first
//     what could make a write fail.
//   - A commit with a receipt is written only while that entry is pending
//     for this consumer (see ownership); otherwise nothing is written and
//     the commit is lost (core.ErrDeliveryLost). A receipt committed twice
//     in one batch is written once.
//   - A batch is one script call per few MiB: each commit in it is atomic
//     on its own, and one that fails its check does not stop the others.
//   - A script call whose reply is lost after it ran is told apart from
//     commits lost to another consumer: each call with receipts carries a
//     token (a hash of its receipts), and the script keeps the token and
//     its results in this consumer's commit record (commitKey). When the
//     Spine retries the call, the script finds its token there and answers
//     "done by an earlier run" instead of checking entries it had already
//     acknowledged.
//   - In ordered mode a commit carries its owner's token (fence), and the
//     script writes nothing unless this consumer still owns the partition
//     under that token (see owner.go): a late commit of an owner that was
//     paused past its lease is lost (core.ErrDeliveryLost), never written.
//   - The wire forms of a batch's emitted events are written into one
//     pooled arena, not one allocation each.
type committer struct {
	rdb goredis.UniversalClient
	cfg *Config
	// group and consumer are cfg's, boxed once rather than in every call.
	group, consumer any
	keys            []string // stream, dead-letter stream, this consumer's commit record, the owner record, the outbox
	// part of parts (0: not partitioned) is this stream's partition.
	part, parts int
}

func newCommitter(rdb goredis.UniversalClient, cfg *Config) *committer {
	return &committer{rdb: rdb, cfg: cfg, group: cfg.Group, consumer: cfg.Consumer, keys: []string{cfg.Stream, cfg.DeadLetterStream, commitKey(cfg.Stream, cfg.Consumer), ownerKey(cfg.Stream), outboxKey(cfg.Stream)}}
}

// target returns the partition an emitted event goes to, and whether it
// is another than this stream's (then it goes through the outbox).
func (c *committer) target(e core.Event) (int, bool) {
	if c.parts <= 1 || e.Key() == "" {
		return c.part, false
	}
	j := PartitionOf(e.Key(), c.parts)
	return j, j != c.part
}

// commitKey is the key of a consumer's commit record.
func commitKey(stream, consumer string) string { return stream + ":commit:" + consumer }

// token identifies a script call by its receipts, in order; "" when it has
// none (nothing to recognise it by, nor to recognise it for).
func token(commits []stagedCommit) string {
	t := newTokenHash()
	t.add(commits)
	return t.String()
}

// tokenHash computes a token over the receipts of several runs of commits
// in turn, as token does over them put end to end.
type tokenHash struct {
	h uint64
	n int
}

const tokenOffset, tokenPrime = 14695981039346656037, 1099511628211 // FNV-1a, 64 bits

func newTokenHash() tokenHash { return tokenHash{h: tokenOffset} }

func (t *tokenHash) add(commits []stagedCommit) {
	for _, sc := range commits {
		if sc.receipt == "" {
			continue
		}
		for i := 0; i < len(sc.receipt); i++ {
			t.h = (t.h ^ uint64(sc.receipt[i])) * tokenPrime
		}
		t.h = (t.h ^ ',') * tokenPrime
		t.n++
	}
}

func (t tokenHash) String() string {
	if t.n == 0 {
		return ""
	}
	return strconv.FormatUint(t.h, 36) + "-" + strconv.Itoa(t.n)
}

// stagedCommit is a commit with its events already encoded.
type stagedCommit struct {
	receipt string // "" for none to check and acknowledge
	emitted [][]byte
	dls     []dlFields
	outbox  []outboxed // emitted events of other partitions
	// Until commitArena.resolve sets emitted: where its wire forms start in
	// the arena, and how many there are.
	first, n int
}

func (c stagedCommit) size() int {
	n := 0
	for _, w := range c.emitted {
		n += len(w)
	}
	for _, f := range c.dls {
		n += len(f.event) + len(f.err)
	}
	for _, o := range c.outbox {
		n += len(o.wire)
	}
	return n
}

// commitArena holds the wire forms of a batch's emitted events in one
// buffer, reused from batch to batch, instead of one allocation each.
type commitArena struct {
	buf   []byte
	ends  []int // ends[i]: where the i-th wire form ends in buf
	wires [][]byte
	// staged and index are a batch's staged commits and their places in
	// it (stageBatch), kept for the next batch.
	staged []stagedCommit
	index  []int
}

var commitArenas = sync.Pool{New: func() any { return new(commitArena) }}

// truncate drops the wire forms from the first-th on.
func (a *commitArena) truncate(first int) {
	start := 0
	if first > 0 {
		start = a.ends[first-1]
	}
	a.buf, a.ends = a.buf[:start], a.ends[:first]
}

// resolve points each staged commit's emitted at its wire forms, once
// nothing more is appended to buf.
func (a *commitArena) resolve(staged []stagedCommit) {
	a.wires = a.wires[:0]
	start := 0
	for _, end := range a.ends {
		a.wires = append(a.wires, a.buf[start:end:end])
		start = end
	}
	for i := range staged {
		sc := &staged[i]
		sc.emitted = a.wires[sc.first : sc.first+sc.n : sc.first+sc.n]
	}
}

// release returns a to the pool, unless a batch of large events grew it.
func (a *commitArena) release() {
	if cap(a.buf) > 4<<20 {
		return
	}
	clear(a.wires)
	clear(a.staged) // their receipts, dead letters and outboxed events
	a.buf, a.ends, a.wires, a.staged, a.index = a.buf[:0], a.ends[:0], a.wires[:0], a.staged[:0], a.index[:0]
	commitArenas.Put(a)
}

// stage encodes an outcome for the commit script. The emitted events' wire
// forms go to a, and sc.emitted points at them once a.resolve has run. An
// emitted event over MaxEventBytes fails it with the *core.RejectedEventError
// of the first such event.
func (c *committer) stage(d core.Delivery, out core.Outcome, a *commitArena) (stagedCommit, error) {
	sc := stagedCommit{receipt: d.Receipt, first: len(a.ends)}
	if c.cfg.Mode != ModeGroup {
		sc.receipt = ""
	}
	for _, e := range out.Emitted {
		if j, away := c.target(e); away {
			w, err := appendWire(nil, e, c.cfg.MaxEventBytes)
			if err != nil {
				a.truncate(sc.first)
				return sc, err
			}
			sc.outbox = append(sc.outbox, outboxed{target: j, wire: w})
			continue
		}
		var err error
		if a.buf, err = appendWire(a.buf, e, c.cfg.MaxEventBytes); err != nil {
			a.truncate(sc.first)
			return sc, err
		}
		a.ends = append(a.ends, len(a.buf))
		sc.n++
	}
	if len(out.DeadLetters) > 0 {
		sc.dls = make([]dlFields, len(out.DeadLetters))
	}
	for i, dl := range out.DeadLetters {
		f, err := fieldsOf(dl, d.Receipt)
		if err != nil {
			a.truncate(sc.first)
			return sc, err
		}
		sc.dls[i] = f
	}
	return sc, nil
}

// run runs the commits in one script call and returns one error per commit,
// how many an earlier run of the same call had done (its reply lost), and
// the script's own error (nil when it ran). A fence ("" for none) is the
// owner's token the commits are written under.
func (c *committer) run(ctx context.Context, commits []stagedCommit, fence string) (errs []error, earlier int, err error) {
	var res []int64
	err = replicated(ctx, c.rdb, c.cfg, c.cfg.Stream, func(rdb goredis.Cmdable) (err error) {
		res, err = commitScript.Run(ctx, rdb, c.keys, c.appendArgs(callArgs(1, ""), commits, fence, true)...).Int64Slice()
		return err
	})
	reloadOnNetError(c.rdb, err)
	return c.results(commits, res, err)
}

// results turns what one script call of commits answered (res, or the
// call's error) into what run returns.
func (c *committer) results(commits []stagedCommit, res []int64, err error) (errs []error, earlier int, _ error) {
	errs = make([]error, len(commits))
	if err == nil && len(res) != len(commits) {
		err = fmt.Errorf("commit script answered %d results for %d commits", len(res), len(commits))
	}
	for i, sc := range commits {
		switch {
		case isNoGroup(err) && sc.receipt != "":
			errs[i] = fmt.Errorf("redis: commit %s: consumer group lost: %w", sc.receipt, core.ErrDeliveryLost)
		case err != nil:
			errs[i] = fmt.Errorf("redis: commit %s: %w", sc.receipt, classify(err)) // retried unless fatal
		case res[i] == 0:
			errs[i] = fmt.Errorf("redis: commit %s: %w", sc.receipt, core.ErrDeliveryLost)
		case res[i] == 2:
			earlier++
		case res[i] == 3:
			errs[i] = fmt.Errorf("redis: commit %s: %w", sc.receipt, errFenced)
		}
	}
	return errs, earlier, err
}

// callArgs starts the commit script's ARGV for a call of groups (see
// scripts/commit.lua) under the call's token ("" for none).
func callArgs(groups int, token string) []any {
	return []any{groups, token, commitRecordTTLArg}
}

// commitRecordTTLArg is commitRecordTTL in milliseconds, boxed once: an
// integer that large allocates each time it is put in an any.
var commitRecordTTLArg any = commitRecordTTL.Milliseconds()

// appendArgs appends to args what the commit script's ARGV holds for a
// group of commits of this stream: the number of its arguments, then
// these. With own the group has a token of its own, and its record (a
// call of one group); otherwise the call's token covers it.
func (c *committer) appendArgs(args []any, commits []stagedCommit, fence string, own bool) []any {
	dls := slices.ContainsFunc(commits, func(sc stagedCommit) bool { return len(sc.dls) > 0 })
	outbox := slices.ContainsFunc(commits, func(sc stagedCommit) bool { return len(sc.outbox) > 0 })
	compact := !dls && !outbox // each commit leaves out its numbers of dead letters and outboxed events
	size, counts := 12, 4      // a commit's id and counts: 4, or 2 when compact
	if compact {
		counts = 2
	}
	for _, sc := range commits {
		size += counts + len(sc.emitted) + 2*dlFieldN*len(sc.dls) + 2*len(sc.outbox)
	}
	args = slices.Grow(args, 1+size)
	at := len(args)
	args = append(args, 0) // the number of arguments, once they are in
	// The script checks ownership with one XPENDING over the receipts'
	// range instead of one per commit. The range's ends are the lowest and
	// highest receipts themselves (entry ids as Redis wrote them), the very
	// arguments of their commits below: not formatted, nor boxed, again.
	var lo, hi streamID
	loAt, hiAt := -1, -1 // of commits
	for i, sc := range commits {
		if sc.receipt == "" {
			continue
		}
		id, err := parseStreamID(sc.receipt)
		if err != nil {
			continue // the per-entry check in the script deals with it
		}
		if loAt < 0 || id.less(lo) {
			lo, loAt = id, i
		}
		if hiAt < 0 || hi.less(id) {
			hi, hiAt = id, i
		}
	}
	rangeCount := 2*len(commits) + 2*c.cfg.Batch
	tok := ""
	if own {
		tok = token(commits)
	}
	var checks any // the keys it writes: the stream, and the others only when it writes them (constants: boxed for free)
	switch {
	case dls && outbox:
		checks = "125"
	case dls:
		checks = "12"
	case outbox:
		checks = "15"
	default:
		checks = "1"
	}
	rangeAt := len(args) + 3
	args = append(args, c.group, c.consumer, len(commits), "", "", rangeCount, fieldEvent, dlFieldN,
		tok, commitRecordTTLArg, fence, checks)
	loArg, hiArg := -1, -1 // where the lowest and highest receipts' arguments go
	for i, sc := range commits {
		if i == loAt {
			loArg = len(args)
		}
		if i == hiAt {
			hiArg = len(args)
		}
		if compact {
			args = append(args, sc.receipt, len(sc.emitted))
		} else {
			args = append(args, sc.receipt, len(sc.emitted), len(sc.dls), len(sc.outbox))
		}
		for _, w := range sc.emitted {
			args = append(args, w)
		}
		for _, f := range sc.dls {
			args = f.appendArgs(args)
		}
		for _, o := range sc.outbox {
			args = append(args, o.target, o.wire)
		}
	}
	if loArg >= 0 {
		args[rangeAt], args[rangeAt+1] = args[loArg], args[hiArg]
	}
	args[at] = len(args) - at - 1
	return args
}

// commitStaged runs the commits (see committer.run), within Timeout, and
// settles what this consumer holds: a receipt committed or lost is no
// longer its. A fence ("" for none) is the owner's token in ordered mode.
func (b *Backend) commitStaged(ctx context.Context, commits []stagedCommit, fence string) []error {
	ctx, cancel := bounded(ctx, b.cfg.Timeout)
	defer cancel()
	errs, earlier, err := b.commits.run(ctx, commits, fence)
	b.settle(ctx, commits, errs, earlier, err)
	return errs
}

// settle does what follows a script call of commits that answered errs
// (earlier done by an earlier run; err the call's own error): a lost group
// is re-created, what was committed or lost is no longer held, the relay
// is told of outboxed events, and a reply lost after it landed is logged.
func (b *Backend) settle(ctx context.Context, commits []stagedCommit, errs []error, earlier int, err error) {
	if isNoGroup(err) {
		// The group, and with it these deliveries, is gone: re-created
		// before them while they are still held, so they are delivered
		// again.
		_ = b.recreateGroup(ctx)
	}
	outbox := false
	for i, sc := range commits {
		if errs[i] == nil || errors.Is(errs[i], core.ErrDeliveryLost) {
			b.own.letGo(sc.receipt)
		}
		outbox = outbox || (errs[i] == nil && len(sc.outbox) > 0)
	}
	if outbox && b.outboxed != nil {
		b.outboxed()
	}
	if earlier > 0 {
		b.log.LogAttrs(ctx, slog.LevelInfo, "redis: a commit's reply was lost after it landed; its retry found it done",
			slog.Int(core.KeyCommits, earlier))
	}
}

// Commit adds the emitted events to the stream, the dead letters to the
// dead-letter stream, and acknowledges d, in one Lua script: all of it or
// none. In ModeGroup it first checks that d is still pending for this
// consumer; if another consumer reclaimed it, nothing is written and the
// error is core.ErrDeliveryLost.
func (b *Backend) Commit(ctx context.Context, d core.Delivery, out core.Outcome) error {
	return b.commitFenced(ctx, d, out, "")
}

// commitFenced is Commit under an owner's token ("" for none).
func (b *Backend) commitFenced(ctx context.Context, d core.Delivery, out core.Outcome, fence string) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	var a commitArena
	sc, err := b.commits.stage(d, out, &a)
	if err != nil {
		return err
	}
	staged := []stagedCommit{sc}
	a.resolve(staged)
	return b.commitStaged(ctx, staged, fence)[0]
}

// CommitBatch commits each outcome as Commit would, all in one script call
// (one round trip): each commit is atomic on its own, and one that fails
// its check (core.ErrDeliveryLost) or cannot be encoded does not stop the
// others.
func (b *Backend) CommitBatch(ctx context.Context, commits []core.Commit) []error {
	return b.commitBatchFenced(ctx, commits, "")
}

// commitBatchFenced is CommitBatch under an owner's token ("" for none).
func (b *Backend) commitBatchFenced(ctx context.Context, commits []core.Commit, fence string) []error {
	errs := make([]error, len(commits))
	if b.isClosed() {
		for i := range errs {
			errs[i] = core.ErrClosed
		}
		return errs
	}
	a := commitArenas.Get().(*commitArena)
	defer a.release() // go-redis is done with the arguments when commitStaged returns
	staged, index := b.stageBatch(commits, a, errs)
	for _, c := range callChunks(nil, staged) {
		for j, err := range b.commitStaged(ctx, staged[c[0]:c[1]], fence) {
			errs[index[c[0]+j]] = err
		}
	}
	return errs
}

// stageBatch stages commits into a, and returns the staged ones with the
// index in commits of each; one that cannot be staged has its error in
// errs instead. Both slices are a's, until a is released.
func (b *Backend) stageBatch(commits []core.Commit, a *commitArena, errs []error) (staged []stagedCommit, index []int) {
	a.staged, a.index = b.stageInto(slices.Grow(a.staged[:0], len(commits)), slices.Grow(a.index[:0], len(commits)), commits, a, errs)
	return a.staged, a.index
}

// stageInto is stageBatch appending to staged and index, empty with room
// for commits (a merged batch's partitions share one array of each).
func (b *Backend) stageInto(staged []stagedCommit, index []int, commits []core.Commit, a *commitArena, errs []error) ([]stagedCommit, []int) {
	for i, c := range commits {
		sc, err := b.commits.stage(c.Delivery, c.Outcome, a)
		if err != nil {
			errs[i] = err
			continue
		}
		staged = append(staged, sc)
		index = append(index, i)
	}
	a.resolve(staged)
	return staged, index
}

// callChunks splits staged commits into script calls, [start, end) each,
// appended to chunks (see chunkBySize).
func callChunks(chunks [][2]int, staged []stagedCommit) [][2]int {
	return chunkBySize(chunks, len(staged), func(i int) int { return staged[i].size() })
}

// chunkBySize splits n items into runs, [start, end) each, appended to
// chunks: one script call per few MiB (maxCallBytes), so that a batch of
// large events does not block Redis in one long script; an item larger
// than that is a run of its own.
func chunkBySize(chunks [][2]int, n int, size func(i int) int) [][2]int {
	for start := 0; start < n; {
		end, bytes := start, 0
		for end < n && (end == start || bytes+size(end) <= maxCallBytes) {
			bytes += size(end)
			end++
		}
		chunks = append(chunks, [2]int{start, end})
		start = end
	}
	return chunks
}

// maxCallBytes bounds what one commit script call carries.
const maxCallBytes = 4 << 20

// commit writes one outcome given in encoded form: the emitted wire forms
// and dead letters, with the acknowledgement of receipt ("" for none), under
// an owner's token (fence, "" for none).
func (b *Backend) commit(ctx context.Context, receipt string, emitted [][]byte, dls []dlFields, fence string) error {
	return b.commitStaged(ctx, []stagedCommit{{receipt: receipt, emitted: emitted, dls: dls}}, fence)[0]
}

// requeue puts d back at the end of the stream, as a new entry holding the
// same event, and acknowledges the old entry, atomically.
func (b *Backend) requeue(ctx context.Context, d core.Delivery) error {
	w, err := appendWire(make([]byte, 0, 256), d.Event, b.cfg.MaxEventBytes)
	if err != nil {
		return err
	}
	return b.commit(ctx, d.Receipt, [][]byte{w}, nil, "")
}
