package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// removeIdleConsumers deletes from the group the consumers that hold no
// pending entry and have not been seen for ClaimMinIdle: workers that are
// gone (each run of a worker has its own consumer name, so without this the
// group would list every one that ever ran). A consumer with pending entries
// is left until reclaim has moved them; one deleted while still alive loses
// nothing, since it holds nothing, and its next read adds it back. The
// check and the deletion are one script, so a consumer cannot read entries
// in between and have them dropped with it.
func (b *Backend) removeIdleConsumers(ctx context.Context) error {
	removed, err := removeIdleScript.Run(ctx, b.rdb, []string{b.cfg.Stream},
		b.cfg.Group, b.cfg.ClaimMinIdle.Milliseconds(), b.cfg.Consumer).StringSlice()
	if isNoGroup(err) || goredis.HasErrorPrefix(err, "ERR no such key") {
		return nil // nothing to tidy: the read that follows re-creates the group
	}
	if err != nil {
		return fmt.Errorf("redis: remove idle consumers: %w", err)
	}
	if len(removed) > 0 {
		b.log.LogAttrs(ctx, slog.LevelInfo, "redis: removed idle consumers that held nothing",
			slog.String("group", b.cfg.Group), slog.String("consumers", strings.Join(removed, ",")))
	}
	return nil
}

// removeIdleScript: KEYS stream; ARGV group, idle bound in ms, this
// consumer. Returns the names removed.
var removeIdleScript = goredis.NewScript(`
local removed = {}
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do
    f[c[i]] = c[i + 1]
  end
  if f.name ~= ARGV[3] and f.pending == 0 and f.idle ~= nil and f.idle > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f.name)
    removed[#removed + 1] = f.name
  end
end
return removed
`)

// takeBackScript: KEYS stream; ARGV group, this consumer, entry ids. It
// claims each entry for this consumer only if the entry is still pending for
// it, so that one another consumer reclaimed meanwhile stays with that one.
// Returns {id, fields, deliveries before the claim} per entry claimed.
var takeBackScript = goredis.NewScript(`
local out = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    local m = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i])
    if #m == 1 then
      out[#out + 1] = {m[1][1], m[1][2], p[1][4]}
    end
  end
end
return out
`)

// parseTakenBack reads takeBackScript's answer.
func parseTakenBack(res []any) ([]claimedEntry, error) {
	out := make([]claimedEntry, 0, len(res))
	for _, r := range res {
		item, ok := r.([]any)
		if !ok || len(item) != 3 {
			return nil, fmt.Errorf("unexpected answer %v", r)
		}
		id, ok1 := item[0].(string)
		fields, ok2 := item[1].([]any)
		n, ok3 := item[2].(int64)
		if !ok1 || !ok2 || !ok3 || len(fields)%2 != 0 {
			return nil, fmt.Errorf("unexpected entry %v", r)
		}
		values := make(map[string]any, len(fields)/2)
		for i := 0; i < len(fields); i += 2 {
			k, _ := fields[i].(string)
			values[k] = fields[i+1]
		}
		out = append(out, claimedEntry{XMessage: goredis.XMessage{ID: id, Values: values}, delivered: int(n)})
	}
	return out, nil
}
