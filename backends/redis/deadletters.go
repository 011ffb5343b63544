package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

// Dead letters live in their own stream (Config.DeadLetterStream), one
// entry each, with the fields below. They are written by the commit script,
// with the outcome they belong to (handler failures, unroutable events) or
// alone (entries the backend refuses as it reads them, entries delivered too
// often). Redrive moves one back to the main stream and deletes it in one
// script, so a dead letter is never both redriven and kept, nor redriven
// twice.

// The fields of a dead-letter entry, in the order they are written: the
// only place they are spelled (the scripts get them as arguments).
const (
	dlEvent    = fieldEvent // the event's wire form, or the raw entry when it was not one
	dlOrgan    = "organ"
	dlReason   = "reason"
	dlError    = "error"
	dlAttempts = "attempts"
	dlTime     = "time"
	dlEntryID  = "entry_id" // the stream entry it came from, when known
)

// dlFieldN is how many fields a dead letter has.
var dlFieldN = len(dlFields{}.appendArgs(nil)) / 2

// dlFields is a dead letter as stored in the dead-letter stream.
type dlFields struct {
	event    string
	organ    string
	reason   string
	err      string
	attempts int
	time     time.Time
	entryID  string
}

// appendArgs appends f to a script's arguments as dlFieldN name/value pairs.
func (f dlFields) appendArgs(args []any) []any {
	return append(args, dlEvent, f.event, dlOrgan, f.organ, dlReason, f.reason, dlError, f.err,
		dlAttempts, f.attempts, dlTime, f.time.Format(time.RFC3339Nano), dlEntryID, f.entryID)
}

func fieldsOf(dl core.DeadLetter, entryID string) (dlFields, error) {
	wire, err := dl.Event.MarshalJSON()
	if err != nil {
		return dlFields{}, fmt.Errorf("redis: dead letter: %w", err)
	}
	t := dl.Time
	if t.IsZero() {
		t = time.Now()
	}
	return dlFields{event: string(wire), organ: dl.Organ, reason: dl.Reason, err: dl.Error,
		attempts: dl.Attempts, time: t.UTC(), entryID: entryID}, nil
}

// DeadLetter adds dl to the dead-letter stream.
func (b *Backend) DeadLetter(ctx context.Context, dl core.DeadLetter) error {
	if b.isClosed() {
		return core.ErrClosed
	}
	f, err := fieldsOf(dl, "")
	if err != nil {
		return err
	}
	return b.commit(ctx, "", nil, []dlFields{f}, "")
}

// deadLetterEntry moves a stream entry to the dead-letter stream and
// acknowledges it, atomically, under an owner's token in ordered mode
// (fence, "" for none). Failing that, the entry stays pending and is dealt
// with again when reclaimed.
func (b *Backend) deadLetterEntry(ctx context.Context, entryID, raw, organ, reason, msg string, attempts int, fence string) {
	dl := dlFields{event: raw, organ: organ, reason: reason, err: msg, attempts: attempts,
		time: time.Now().UTC(), entryID: entryID}
	receipt := entryID
	if b.cfg.Mode != ModeGroup {
		receipt = "" // nothing to acknowledge
	}
	err := b.commit(ctx, receipt, nil, []dlFields{dl}, fence)
	level := slog.LevelWarn
	attrs := []slog.Attr{
		slog.String(keyStream, b.cfg.Stream), slog.String(keyEntryID, entryID),
		slog.String(core.KeyReason, reason), slog.String(core.KeyError, msg), slog.Int(core.KeyAttempt, attempts),
	}
	if err != nil {
		level = slog.LevelError
		attrs = append(attrs, slog.String(keyDeadLetterError, err.Error()))
		b.log.LogAttrs(ctx, level, "redis: could not dead-letter a bad entry; it stays pending", attrs...)
		return
	}
	b.log.LogAttrs(ctx, level, "redis: entry dead-lettered", attrs...)
}

// DeadLetter is an entry of the dead-letter stream.
type DeadLetter struct {
	core.DeadLetter
	// ID is the entry's id in the dead-letter stream: what Redrive takes.
	ID string
	// EntryID is the id the event had in the main stream, when known.
	EntryID string
	// Raw is what the original entry held when the backend refused it
	// (ReasonMalformed, ReasonOversized). Event is then the zero Event and
	// the dead letter cannot be redriven.
	Raw string
}

// DeadLetters lists up to count dead letters, oldest first, starting after
// the dead-letter id after ("" for the beginning). count <= 0 means 100.
func (b *Backend) DeadLetters(ctx context.Context, after string, count int64) ([]DeadLetter, error) {
	return listDeadLetters(ctx, b.rdb, b.cfg.DeadLetterStream, after, count)
}

// listDeadLetters is DeadLetters of the dead-letter stream dlq.
func listDeadLetters(ctx context.Context, rdb goredis.UniversalClient, dlq, after string, count int64) ([]DeadLetter, error) {
	if count <= 0 {
		count = 100
	}
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msgs, err := rdb.XRangeN(ctx, dlq, start, "+", count).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: list dead letters: %w", classify(err))
	}
	out := make([]DeadLetter, len(msgs))
	for i, m := range msgs {
		out[i] = parseDeadLetter(m)
	}
	return out, nil
}

// DeadLetterCount returns the number of entries in the dead-letter stream.
func (b *Backend) DeadLetterCount(ctx context.Context) (int64, error) {
	n, err := b.rdb.XLen(ctx, b.cfg.DeadLetterStream).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: count dead letters: %w", err)
	}
	return n, nil
}

func parseDeadLetter(m goredis.XMessage) DeadLetter {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	dl := DeadLetter{ID: m.ID, EntryID: str(dlEntryID)}
	dl.Organ, dl.Reason, dl.Error = str(dlOrgan), str(dlReason), str(dlError)
	dl.Attempts, _ = strconv.Atoi(str(dlAttempts))
	dl.Time, _ = time.Parse(time.RFC3339Nano, str(dlTime))
	raw := str(dlEvent)
	if dl.Reason == ReasonMalformed || dl.Reason == ReasonOversized {
		// Whatever it holds, handing it back would only refuse it again.
		dl.Raw = raw
		return dl
	}
	if e, err := core.DecodeEvent([]byte(raw)); err == nil {
		dl.Event = e
	} else {
		dl.Raw = raw
	}
	return dl
}

// ErrNotRedrivable is returned by Redrive for a dead letter that holds no
// valid event (a malformed entry): there is nothing to hand back.
var ErrNotRedrivable = errors.New("dead letter holds no valid event")

// ErrNoDeadLetter is the error of a dead-letter id that is not there.
var ErrNoDeadLetter = errors.New("no such dead letter")

// Redrive moves dead letters back to the main stream, as new entries
// carrying the same event (same id, so idempotent handlers see a repeat),
// and deletes them from the dead-letter stream, each atomically. With ids it
// redrives those; without, every redrivable dead letter. It returns how many
// it moved; dead letters that hold no valid event are left in place and
// reported with ErrNotRedrivable.
func (b *Backend) Redrive(ctx context.Context, ids ...string) (int, error) {
	if b.isClosed() {
		return 0, core.ErrClosed
	}
	r := redrive{rdb: b.rdb, stream: b.cfg.Stream, dlq: b.cfg.DeadLetterStream}
	if len(ids) > 0 {
		for _, id := range ids {
			r.byID(ctx, id)
		}
		return r.moved, errors.Join(r.errs...)
	}
	err := r.all(ctx)
	return r.moved, errors.Join(append(r.errs, err)...)
}

// redrive is one Redrive call, from dlq back to stream: what it moved,
// and what it could not.
type redrive struct {
	rdb         goredis.UniversalClient
	stream, dlq string
	moved       int
	errs        []error
}

func (r *redrive) one(ctx context.Context, dl DeadLetter) {
	if dl.Event.IsZero() {
		r.errs = append(r.errs, fmt.Errorf("redis: redrive %s: %w", dl.ID, ErrNotRedrivable))
		return
	}
	wire, _ := dl.Event.MarshalJSON()
	n, err := redriveScript.Run(ctx, r.rdb, []string{r.stream, r.dlq}, dl.ID, string(wire), fieldEvent).Int()
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("redis: redrive %s: %w", dl.ID, err))
		return
	}
	r.moved += n
}

func (r *redrive) byID(ctx context.Context, id string) {
	dl, err := getDeadLetter(ctx, r.rdb, r.dlq, id)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("redis: redrive %s: %w", id, err))
		return
	}
	r.one(ctx, dl)
}

// getDeadLetter reads the dead letter id of the dead-letter stream dlq; a
// missing one is ErrNoDeadLetter.
func getDeadLetter(ctx context.Context, rdb goredis.UniversalClient, dlq, id string) (DeadLetter, error) {
	msgs, err := rdb.XRangeN(ctx, dlq, id, id, 1).Result()
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %s: %w", id, classify(err))
	}
	if len(msgs) == 0 {
		return DeadLetter{}, fmt.Errorf("%s: %w %s", dlq, ErrNoDeadLetter, id)
	}
	return parseDeadLetter(msgs[0]), nil
}

// all redrives every dead letter there is now. It stops at the last one:
// an event redriven while workers run may fail again and come back behind
// it.
func (r *redrive) all(ctx context.Context) error {
	last, err := r.rdb.XRevRangeN(ctx, r.dlq, "+", "-", 1).Result()
	if err != nil {
		return fmt.Errorf("redis: redrive: %w", err)
	}
	if len(last) == 0 {
		return nil
	}
	end, err := parseStreamID(last[0].ID)
	if err != nil {
		return err
	}
	for after := ""; ; {
		page, err := listDeadLetters(ctx, r.rdb, r.dlq, after, 100)
		if err != nil || len(page) == 0 {
			return err
		}
		for _, dl := range page {
			if id, err := parseStreamID(dl.ID); err == nil && end.less(id) {
				return nil
			}
			r.one(ctx, dl)
		}
		after = page[len(page)-1].ID
	}
}
