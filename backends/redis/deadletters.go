package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/necrostack/necrostack/core"
)

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
	if count <= 0 {
		count = 100
	}
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msgs, err := b.rdb.XRangeN(ctx, b.cfg.DeadLetterStream, start, "+", count).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: list dead letters: %w", err)
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
	dl := DeadLetter{ID: m.ID, EntryID: str("entry_id")}
	dl.Organ, dl.Reason, dl.Error = str("organ"), str("reason"), str("error")
	dl.Attempts, _ = strconv.Atoi(str("attempts"))
	dl.Time, _ = time.Parse(time.RFC3339Nano, str("time"))
	raw := str("event")
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
	var errs []error
	moved := 0
	redrive := func(dl DeadLetter) {
		if dl.Event.IsZero() {
			errs = append(errs, fmt.Errorf("redis: redrive %s: %w", dl.ID, ErrNotRedrivable))
			return
		}
		wire, _ := dl.Event.MarshalJSON()
		n, err := redriveScript.Run(ctx, b.rdb, []string{b.cfg.Stream, b.cfg.DeadLetterStream}, dl.ID, string(wire)).Int()
		if err != nil {
			errs = append(errs, fmt.Errorf("redis: redrive %s: %w", dl.ID, err))
			return
		}
		moved += n
	}
	if len(ids) > 0 {
		for _, id := range ids {
			msgs, err := b.rdb.XRangeN(ctx, b.cfg.DeadLetterStream, id, id, 1).Result()
			if err != nil {
				errs = append(errs, fmt.Errorf("redis: redrive %s: %w", id, err))
				continue
			}
			if len(msgs) == 0 {
				errs = append(errs, fmt.Errorf("redis: redrive %s: no such dead letter", id))
				continue
			}
			redrive(parseDeadLetter(msgs[0]))
		}
		return moved, errors.Join(errs...)
	}
	// Stop at the last dead letter there is now: an event redriven while
	// workers run may fail again and come back behind it.
	last, err := b.rdb.XRevRangeN(ctx, b.cfg.DeadLetterStream, "+", "-", 1).Result()
	if err != nil {
		return 0, fmt.Errorf("redis: redrive: %w", err)
	}
	if len(last) == 0 {
		return 0, nil
	}
	end, err := parseStreamID(last[0].ID)
	if err != nil {
		return 0, err
	}
	after := ""
	for {
		page, err := b.DeadLetters(ctx, after, 100)
		if err != nil {
			return moved, errors.Join(append(errs, err)...)
		}
		for _, dl := range page {
			if id, err := parseStreamID(dl.ID); err == nil && end.less(id) {
				return moved, errors.Join(errs...)
			}
			redrive(dl)
		}
		if len(page) == 0 {
			return moved, errors.Join(errs...)
		}
		after = page[len(page)-1].ID
	}
}

// redriveScript deletes a dead letter and re-adds its event to the main
// stream, or does nothing if the dead letter is already gone (redriven by
// someone else). KEYS: stream, dead-letter stream. ARGV: dead-letter id,
// event wire form.
var redriveScript = goredis.NewScript(`
if redis.call('XDEL', KEYS[2], ARGV[1]) == 1 then
  redis.call('XADD', KEYS[1], '*', 'event', ARGV[2])
  return 1
end
return 0
`)
