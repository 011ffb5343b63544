package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// maintenance keeps the group and the stream tidy. Its rules:
//   - A consumer that holds no pending entry and has not been seen for
//     ClaimMinIdle is removed from the group (each run of a worker has its
//     own name, so the group would otherwise list every one that ever ran).
//     One with pending entries stays until reclaim has moved them; one
//     removed while alive loses nothing, since it holds nothing, and its
//     next read adds it back. The check and the removal are one script, so a
//     consumer cannot read entries in between and have them dropped with it.
//   - Trimming (Config.Trim) never removes an entry the group has pending
//     or has not delivered yet.
type maintenance struct {
	rdb goredis.UniversalClient
	cfg *Config
	log *slog.Logger

	mu       sync.Mutex
	lastTrim time.Time
}

// trimDue reports whether a trim is due, and if so starts it.
func (m *maintenance) trimDue() bool {
	if !m.cfg.Trim.enabled() {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.lastTrim) < m.cfg.Trim.Interval {
		return false
	}
	m.lastTrim = time.Now()
	return true
}

// removeIdleConsumers deletes from the group the consumers that hold no
// pending entry and have not been seen for ClaimMinIdle.
func (m *maintenance) removeIdleConsumers(ctx context.Context) error {
	removed, err := removeIdleScript.Run(ctx, m.rdb, []string{m.cfg.Stream},
		m.cfg.Group, m.cfg.ClaimMinIdle.Milliseconds(), m.cfg.Consumer).StringSlice()
	if isNoGroup(err) || goredis.HasErrorPrefix(err, "ERR no such key") {
		return nil // nothing to tidy: the read that follows re-creates the group
	}
	if err != nil {
		return fmt.Errorf("redis: remove idle consumers: %w", err)
	}
	if len(removed) > 0 {
		m.log.LogAttrs(ctx, slog.LevelInfo, "redis: removed idle consumers that held nothing",
			slog.String(keyGroup, m.cfg.Group), slog.String(keyConsumers, strings.Join(removed, ",")))
	}
	return nil
}

// trim applies Config.Trim: it computes the oldest id the policy wants to
// keep, lowers it to the oldest entry the group still needs (pending, or not
// yet delivered), and trims below it with XTRIM MINID ~.
func (m *maintenance) trim(ctx context.Context) error {
	var cutID streamID
	if m.cfg.Trim.MaxAge > 0 {
		cutID = streamID{ms: uint64(time.Now().Add(-m.cfg.Trim.MaxAge).UnixMilli())}
	}
	if m.cfg.Trim.MaxLen > 0 {
		n, err := m.rdb.XLen(ctx, m.cfg.Stream).Result()
		if err != nil {
			return fmt.Errorf("length: %w", err)
		}
		if excess := n - m.cfg.Trim.MaxLen; excess > 0 {
			msgs, err := m.rdb.XRangeN(ctx, m.cfg.Stream, "-", "+", min(excess, 10_000)).Result()
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
	safe, err := m.oldestNeeded(ctx)
	if err != nil {
		return err
	}
	minID := minIDOf(cutID, safe)
	removed, err := m.rdb.XTrimMinIDApprox(ctx, m.cfg.Stream, minID.String(), 0).Result()
	if err != nil {
		return fmt.Errorf("XTRIM: %w", err)
	}
	if removed > 0 {
		m.log.LogAttrs(ctx, slog.LevelDebug, "redis: trimmed the stream",
			slog.String(keyStream, m.cfg.Stream), slog.Int64(keyRemoved, removed), slog.String(keyMinID, minID.String()))
	}
	return nil
}

// oldestNeeded returns the id of the oldest entry the group still needs: the
// oldest pending one, or the first one after the last delivered.
func (m *maintenance) oldestNeeded(ctx context.Context) (streamID, error) {
	groups, err := m.rdb.XInfoGroups(ctx, m.cfg.Stream).Result()
	if err != nil {
		return streamID{}, fmt.Errorf("group info: %w", err)
	}
	var safe streamID
	found := false
	for _, g := range groups {
		if g.Name != m.cfg.Group {
			continue
		}
		last, err := parseStreamID(g.LastDeliveredID)
		if err != nil {
			return streamID{}, err
		}
		safe, found = last.next(), true
	}
	if !found {
		return streamID{}, fmt.Errorf("group %q not found", m.cfg.Group)
	}
	p, err := m.rdb.XPending(ctx, m.cfg.Stream, m.cfg.Group).Result()
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
