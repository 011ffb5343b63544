-- Checks that this user may run every command the backend sends, each in a
-- form that changes nothing, and that the keys hold streams. See
-- preflight.go.
-- KEYS: stream, dead-letter stream, this consumer's commit record.
-- ARGV: group, consumer, the name of an entry's event field.
-- Returns 1, or an error naming the first command refused, or the key of
-- the wrong type. Errors other than a refusal (no such group yet, an id
-- refused) prove the command allowed, and pass.
for i = 1, 2 do
  local t = redis.call('TYPE', KEYS[i]).ok
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE key ' .. KEYS[i] .. ' holds a ' .. t .. ', not a stream')
  end
end
-- XREADGROUP and XCLAIM create the consumer they name: one that was not in
-- the group before the probe is removed after it (it holds nothing), so
-- that a process that never reads (an emit) leaves no consumer behind.
local function known()
  local list = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
  if type(list) ~= 'table' or list.err then
    return true -- no group yet, or not allowed to look: touch nothing
  end
  for _, c in ipairs(list) do
    for j = 1, #c - 1, 2 do
      if c[j] == 'name' and c[j + 1] == ARGV[2] then
        return true
      end
    end
  end
  return false
end
local existed = known()
-- Not the largest id: Redis reads that one as '>', a read of new entries.
local far = '18446744073709551615-18446744073709551614'
local probes = {
  {'XADD', {'XADD', KEYS[1], '0-0', ARGV[3], 'probe'}}, -- refused for its id when allowed
  {'XADD to the dead-letter stream', {'XADD', KEYS[2], '0-0', ARGV[3], 'probe'}},
  {'XREADGROUP', {'XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', '1', 'STREAMS', KEYS[1], far}},
  {'XACK', {'XACK', KEYS[1], ARGV[1], far}},
  {'XCLAIM', {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], '0', far, 'JUSTID'}},
  {'XPENDING', {'XPENDING', KEYS[1], ARGV[1]}},
  {'XINFO GROUPS', {'XINFO', 'GROUPS', KEYS[1]}},
  {'XINFO CONSUMERS', {'XINFO', 'CONSUMERS', KEYS[1], ARGV[1]}},
  {'XGROUP DELCONSUMER', {'XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2] .. ':probe'}},
  {'XTRIM', {'XTRIM', KEYS[1], 'MINID', '0'}},
  {'XLEN', {'XLEN', KEYS[1]}},
  {'XRANGE', {'XRANGE', KEYS[2], far, far}},
  {'XDEL', {'XDEL', KEYS[2], far}},
  {'GET', {'GET', KEYS[3]}},
  {'SET', {'SET', KEYS[3], 'probe', 'XX', 'KEEPTTL'}},
}
for _, p in ipairs(probes) do
  local r = redis.pcall(unpack(p[2]))
  if type(r) == 'table' and r.err and string.find(r.err, "The user executing the script can't", 1, true) then
    return redis.error_reply('NOPERM this user may not run ' .. p[1] .. ' on these keys, which the backend needs (' .. r.err .. ')')
  end
end
if not existed then
  redis.pcall('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return 1
