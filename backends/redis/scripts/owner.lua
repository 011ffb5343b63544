-- A partition's owner lease in ordered mode. See owner.go.
-- KEYS: the partition's owner record (a hash: owner, token, until).
-- ARGV: 'acquire', 'renew' or 'release'; this worker; the lease's length
-- (ms); the token this worker holds ('0' for none).
-- Times are Redis's own (TIME), so the workers' clocks do not matter.
-- The token only grows: each acquisition adds one, and it outlives the
-- lease (the record has no expiry), so that a late write under an old token
-- is told apart however long its writer was away.
-- acquire: free (no owner, or its lease ran out) or this worker's (from a
-- term it no longer holds: it acquires anew): take it under a new token,
-- returning {token, 0}; held by another: {0, ms left, owner}.
-- renew: still this worker's under its token (even past the lease's end:
-- nobody took it meanwhile): {token, 0}; otherwise {0, 0, owner}.
-- release: this worker's under its token: drop the owner, {token, 0}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local l = redis.call('HMGET', KEYS[1], 'owner', 'token', 'until')
local owner, tok, untl = l[1] or '', tonumber(l[2] or '0'), tonumber(l[3] or '0')
local op, me, ttl, mine = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if op == 'acquire' then
  if owner ~= '' and owner ~= me and untl >= now then
    return {0, untl - now, owner}
  end
  tok = tok + 1
  redis.call('HSET', KEYS[1], 'owner', me, 'token', tok, 'until', now + ttl)
  return {tok, 0}
end
if owner ~= me or tok ~= mine then
  return {0, 0, owner}
end
if op == 'renew' then
  redis.call('HSET', KEYS[1], 'until', now + ttl)
else
  redis.call('HSET', KEYS[1], 'owner', '', 'until', 0)
end
return {tok, 0}
