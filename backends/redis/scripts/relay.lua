-- Moves events from a partition's outbox to their own partition, once
-- each. See relay.go.
-- KEYS: the target partition's stream, its record of what it has received
-- from each outbox (a hash: source partition → last outbox entry id).
-- ARGV: the source partition, the name of an entry's event field, then for
-- each event its outbox entry id and wire form, in outbox order.
-- An event whose outbox entry id is not above the last one received from
-- that outbox was relayed before (by a relay that died before it could
-- delete it, or by another relaying at the same time) and is skipped, so
-- that every event is written once however often it is relayed. Returns
-- how many it wrote.
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'stream' and t ~= 'none' then
  return redis.error_reply('WRONGTYPE key ' .. KEYS[1] .. ' holds a ' .. t .. ', not a stream')
end
local function id(s)
  local ms, seq = string.match(s, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local last = redis.call('HGET', KEYS[2], ARGV[1])
local lms, lseq = -1, -1
if last then
  lms, lseq = id(last)
end
local wrote, newest = 0, nil
for i = 3, #ARGV, 2 do
  local ms, seq = id(ARGV[i])
  if ms > lms or (ms == lms and seq > lseq) then
    redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[i + 1])
    wrote = wrote + 1
    lms, lseq, newest = ms, seq, ARGV[i]
  end
end
if newest then
  redis.call('HSET', KEYS[2], ARGV[1], newest)
end
return wrote
