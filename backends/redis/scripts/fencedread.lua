-- Reads for a partition's owner in ordered mode, only while it owns the
-- partition under its token. See owner.go.
-- KEYS: the partition's stream, its owner record.
-- ARGV: group, this worker, its token, how many entries at most, 'claim'
-- or 'read', and for claim where to start ('-', or '(' and an id).
-- claim: claims for this worker the oldest entries pending in the group
-- from the start, whoever holds them (a former owner, dead or fenced, or
-- this worker in an earlier term): {'claimed', the last id looked at ('' for
-- none), how many were looked at, entries}, each entry {id, fields,
-- deliveries before the claim}. An entry trimmed away is dropped by XCLAIM.
-- A claim leaves each entry's delivery count as it was: only the first
-- pending entry of each key can have been handed to an organ, and bump
-- counts it again.
-- read: reads new entries (XREADGROUP >): {'read', entries}, each {id,
-- fields, 0}; when there are none, {'idle', the id of the stream's last
-- entry or '0-0'}, to wait on with XREAD BLOCK.
-- bump: ARGV[6] on are entry ids pending for this worker: each one's
-- delivery count grows by one. {'bumped'}.
-- Not the owner under that token: {'fenced', owner}.
local l = redis.call('HMGET', KEYS[2], 'owner', 'token')
if l[1] ~= ARGV[2] or l[2] ~= ARGV[3] then
  return {'fenced', l[1] or ''}
end
local group, me, n = ARGV[1], ARGV[2], tonumber(ARGV[4])
local out = {}
if ARGV[5] == 'claim' then
  local p = redis.call('XPENDING', KEYS[1], group, ARGV[6], '+', n)
  for _, e in ipairs(p) do
    local m = redis.call('XCLAIM', KEYS[1], group, me, 0, e[1], 'RETRYCOUNT', e[4])
    if #m == 1 and m[1] then
      out[#out + 1] = {m[1][1], m[1][2], e[4]}
    end
  end
  local last = ''
  if #p > 0 then
    last = p[#p][1]
  end
  return {'claimed', last, #p, out}
end
if ARGV[5] == 'bump' then
  for i = 6, #ARGV do
    local p = redis.call('XPENDING', KEYS[1], group, ARGV[i], ARGV[i], 1, me)
    if #p == 1 then
      redis.call('XCLAIM', KEYS[1], group, me, 0, ARGV[i], 'RETRYCOUNT', p[1][4] + 1, 'JUSTID')
    end
  end
  return {'bumped'}
end
local r = redis.call('XREADGROUP', 'GROUP', group, me, 'COUNT', n, 'STREAMS', KEYS[1], '>')
if r then
  for _, m in ipairs(r[1][2]) do
    out[#out + 1] = {m[1], m[2], 0}
  end
end
if #out == 0 then
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  return {'idle', last[1] and last[1][1] or '0-0'}
end
return {'read', out}
