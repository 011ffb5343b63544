-- Removes from the group the consumers that hold nothing and have not been
-- seen for a while. See maintenance.go.
-- KEYS: stream. ARGV: group, idle bound in ms, this consumer.
-- Returns the names removed.
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
