-- Trims the stream as far as the policy allows, but never past what any
-- group on it still needs. See maintenance.go.
-- KEYS: stream. ARGV: the oldest id the age limit keeps ("" for none), the
-- length to keep (0 for none), the most entries to look at for the length
-- cut in one call.
-- What a group needs: its oldest pending entry, and everything after the
-- last entry it was delivered. Returns {entries removed, 1 if there may be
-- more to remove at once (the length cut was cut short), the id kept from,
-- the name of the group that held the trim back, or "", the stream's
-- length after}.
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return {tonumber(ms), tonumber(seq)}
end
local function less(a, b)
  return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2])
end
local function str(id)
  return string.format('%d-%d', id[1], id[2])
end

local cut, more = nil, 0
if ARGV[1] ~= '' then
  cut = parse(ARGV[1])
end
local maxlen, page = tonumber(ARGV[2]), tonumber(ARGV[3])
if maxlen > 0 then
  local excess = redis.call('XLEN', KEYS[1]) - maxlen
  if excess > 0 then
    local n = math.min(excess, page)
    local r = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', n)
    if #r > 0 then
      local last = parse(r[#r][1])
      last = {last[1], last[2] + 1}
      if cut == nil or less(cut, last) then
        cut = last
      end
      if excess > n then
        more = 1
      end
    end
  end
end
if cut == nil then
  return {0, 0, '', '', redis.call('XLEN', KEYS[1])}
end
local holder = ''
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local f = {}
  for i = 1, #g, 2 do
    f[g[i]] = g[i + 1]
  end
  local need = parse(f['last-delivered-id'])
  need = {need[1], need[2] + 1}
  if f.pending > 0 then
    local p = redis.call('XPENDING', KEYS[1], f.name)
    local lower = parse(p[2])
    if less(lower, need) then
      need = lower
    end
  end
  if less(need, cut) then
    cut, holder, more = need, f.name, 0
  end
end
local removed = redis.call('XTRIM', KEYS[1], 'MINID', '~', str(cut))
return {removed, more, str(cut), holder, redis.call('XLEN', KEYS[1])}
