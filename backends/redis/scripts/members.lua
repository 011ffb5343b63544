-- The workers of an ordered stream. See membership.go.
-- KEYS: the members (a sorted set: worker, the end of its heartbeat's
-- validity in Redis's ms). ARGV: this worker; how long its heartbeat holds
-- (ms), or 0 to leave.
-- Drops the members whose heartbeat ran out, and returns the others.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 10 * ttl)
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1)
return redis.call('ZRANGE', KEYS[1], 0, -1)
