-- Renews this consumer's lease on entries it is still handling: their idle
-- time starts again from 0, so reclaim leaves them alone, and their
-- delivery count stays as it is (JUSTID). See ownership.go.
-- KEYS: stream. ARGV: group, this consumer, entry ids.
-- An entry no longer pending for this consumer is left alone. Returns the
-- ids renewed.
local out = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    out[#out + 1] = ARGV[i]
  end
end
return out
