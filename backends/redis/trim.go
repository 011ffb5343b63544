package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// trim applies Config.Trim: it computes the oldest id the policy wants to
// keep, lowers it to the oldest entry the group still needs (pending, or not
// yet delivered), and trims below it with XTRIM MINID ~.
func (b *Backend) trim(ctx context.Context) error {
	var cutID streamID
	if b.cfg.Trim.MaxAge > 0 {
		cutID = streamID{ms: uint64(time.Now().Add(-b.cfg.Trim.MaxAge).UnixMilli())}
	}
	if b.cfg.Trim.MaxLen > 0 {
		n, err := b.rdb.XLen(ctx, b.cfg.Stream).Result()
		if err != nil {
			return fmt.Errorf("length: %w", err)
		}
		if excess := n - b.cfg.Trim.MaxLen; excess > 0 {
			msgs, err := b.rdb.XRangeN(ctx, b.cfg.Stream, "-", "+", min(excess, 10_000)).Result()
			if err != nil {
				return fmt.Errorf("find the cut: %w", err)
			}
			if len(msgs) > 0 {
				last, err := parseStreamID(msgs[len(msgs)-1].ID)
				if err != nil {
					return err
				}
				cutID = maxID(cutID, last.next())
			}
		}
	}
	if cutID.isZero() {
		return nil
	}
	safe, err := b.oldestNeeded(ctx)
	if err != nil {
		return err
	}
	minID := minIDOf(cutID, safe)
	removed, err := b.rdb.XTrimMinIDApprox(ctx, b.cfg.Stream, minID.String(), 0).Result()
	if err != nil {
		return fmt.Errorf("XTRIM: %w", err)
	}
	if removed > 0 {
		b.log.LogAttrs(ctx, slog.LevelDebug, "redis: trimmed the stream",
			slog.String("stream", b.cfg.Stream), slog.Int64("removed", removed), slog.String("min_id", minID.String()))
	}
	return nil
}

// oldestNeeded returns the id of the oldest entry the group still needs: the
// oldest pending one, or the first one after the last delivered.
func (b *Backend) oldestNeeded(ctx context.Context) (streamID, error) {
	groups, err := b.rdb.XInfoGroups(ctx, b.cfg.Stream).Result()
	if err != nil {
		return streamID{}, fmt.Errorf("group info: %w", err)
	}
	var safe streamID
	found := false
	for _, g := range groups {
		if g.Name != b.cfg.Group {
			continue
		}
		last, err := parseStreamID(g.LastDeliveredID)
		if err != nil {
			return streamID{}, err
		}
		safe, found = last.next(), true
	}
	if !found {
		return streamID{}, fmt.Errorf("group %q not found", b.cfg.Group)
	}
	p, err := b.rdb.XPending(ctx, b.cfg.Stream, b.cfg.Group).Result()
	if err != nil {
		return streamID{}, fmt.Errorf("pending summary: %w", err)
	}
	if p.Count > 0 && p.Lower != "" {
		lower, err := parseStreamID(p.Lower)
		if err != nil {
			return streamID{}, err
		}
		safe = minIDOf(safe, lower)
	}
	return safe, nil
}

// streamID is a parsed stream entry id, "<ms>-<seq>".
type streamID struct{ ms, seq uint64 }

func parseStreamID(s string) (streamID, error) {
	msPart, seqPart, ok := strings.Cut(s, "-")
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	seq, err2 := strconv.ParseUint(seqPart, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return streamID{}, fmt.Errorf("bad stream id %q", s)
	}
	return streamID{ms, seq}, nil
}

func (id streamID) String() string { return fmt.Sprintf("%d-%d", id.ms, id.seq) }
func (id streamID) isZero() bool   { return id == streamID{} }

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

func (id streamID) next() streamID {
	if id.seq == ^uint64(0) {
		return streamID{ms: id.ms + 1}
	}
	return streamID{id.ms, id.seq + 1}
}

func minIDOf(a, b streamID) streamID {
	if a.less(b) {
		return a
	}
	return b
}

func maxID(a, b streamID) streamID {
	if a.less(b) {
		return b
	}
	return a
}
