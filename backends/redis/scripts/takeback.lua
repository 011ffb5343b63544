-- Takes back entries pending for this consumer that it does not hold. See
-- ownership.go.
-- KEYS: stream. ARGV: group, this consumer, entry ids.
-- It claims each entry for this consumer only if the entry is still pending
-- for it, so that one another consumer reclaimed meanwhile stays with that
-- one. Returns {id, fields, deliveries before the claim} per entry claimed.
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
