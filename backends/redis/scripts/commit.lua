-- Commits batches of outcomes, each outcome atomically, of one or more
-- partitions (a group each: several only on one server, where a script
-- may use keys of several slots). See committer.go.
-- KEYS: five a group: its stream, dead-letter stream, this consumer's
-- commit record, the partition's owner record (ordered mode; see
-- owner.lua), its outbox (see relay.go).
-- ARGV: the number of groups, the call's token ("" for none: each group
-- may have its own; a call's is kept in the first group's record) and how
-- long to keep a record (ms); then for each group the number of its
-- arguments, then these: group, consumer, number of commits, the lowest
-- and highest receipt ("" for none) and a bound for listing what is
-- pending between them, the name of an entry's event field, the number of
-- fields of a dead letter, the group's token ("" for none), how long to
-- keep its record (ms), the owner's token ("" for none: not ordered mode)
-- and the keys it writes ("1", "12", "15" or "125": stream, dead
-- letters, outbox); then for each commit: entry id ("" for none), number of
-- emitted events, number of dead letters, number of outboxed events, the
-- emitted events' wire forms, each dead letter as field name / value
-- pairs, and each outboxed event as its target partition and wire form. A
-- group that writes only its stream ("1") leaves out the two numbers of
-- dead letters and outboxed events (each a fifth of the arguments
-- otherwise: converting arguments is much of a script's cost).
-- With an entry id it first checks the entry is still pending for this
-- consumer, and writes nothing for that commit if not. Returns, for each
-- group in turn, per commit 1 (done), 0 (lost) or 2 (done by an earlier
-- run of this same batch, whose reply was lost: the record holds its token
-- and results), or, for every commit of the group, 3 when an owner's token
-- is given and this consumer no longer owns the partition under it
-- (fenced: nothing written).
local groups, calltoken, ttl = tonumber(ARGV[1]), ARGV[2], ARGV[3]
if calltoken ~= '' then
  local rec = redis.call('GET', KEYS[3])
  if rec and string.sub(rec, 1, #calltoken + 1) == calltoken .. ':' then
    local res = {}
    for c = #calltoken + 2, #rec do
      res[#res + 1] = 2 * tonumber(string.sub(rec, c, c))
    end
    return res
  end
end
-- Check up front, for every group, what could make a write fail: a script
-- is not rolled back. A group names the keys it writes (1 stream, 2 dead
-- letters, 5 outbox). A group of a merged call (no token nor owner's
-- token of its own, the first of its stream in the call) has its stream
-- checked by the XPENDING its commits need (see commit), made here: a call
-- fewer a group, and a lost group (NOGROUP) ends the call before any group
-- has written.
local pending, seen = {}, {}
local o = 3
for g = 0, groups - 1 do
  local checks = ARGV[o + 13]
  local stream = KEYS[5 * g + 1]
  if ARGV[o + 5] ~= '' and ARGV[o + 10] == '' and ARGV[o + 12] == '' and not seen[stream] then
    local p = redis.pcall('XPENDING', stream, ARGV[o + 2], ARGV[o + 5], ARGV[o + 6], tonumber(ARGV[o + 7]), ARGV[o + 3])
    if p.err == nil then
      pending[g], checks = p, string.sub(checks, 2)
    elseif string.sub(p.err, 1, 9) ~= 'WRONGTYPE' then
      return p -- NOGROUP, say: nothing written
    end -- WRONGTYPE: the check below names the key
  end
  seen[stream] = true
  for c = 1, #checks do
    local key = KEYS[5 * g + tonumber(string.sub(checks, c, c))]
    local t = redis.call('TYPE', key).ok
    if t ~= 'stream' and t ~= 'none' then
      return redis.error_reply('WRONGTYPE key ' .. key .. ' holds a ' .. t .. ', not a stream')
    end
  end
  o = o + 1 + tonumber(ARGV[o + 1])
end

-- commit commits one group, whose keys follow KEYS[kb] and whose
-- arguments follow ARGV[o], and appends its results to out; p is what
-- the checks' XPENDING answered for it, if they made it.
local function commit(kb, o, out, p)
  local stream, dlq, record, owner, outbox = KEYS[kb + 1], KEYS[kb + 2], KEYS[kb + 3], KEYS[kb + 4], KEYS[kb + 5]
  local group, consumer, k = ARGV[o + 1], ARGV[o + 2], tonumber(ARGV[o + 3])
  local field, dlw = ARGV[o + 7], 2 * tonumber(ARGV[o + 8])
  local token = ARGV[o + 9]
  local no = #out
  if token ~= '' then
    local rec = redis.call('GET', record)
    if rec and string.sub(rec, 1, #token + 1) == token .. ':' then
      for c = 1, k do
        out[no + c] = 2 * tonumber(string.sub(rec, #token + 1 + c, #token + 1 + c))
      end
      return
    end
  end
  local fence = ARGV[o + 11]
  if fence ~= '' then
    local l = redis.call('HMGET', owner, 'owner', 'token')
    if l[1] ~= consumer or l[2] ~= fence then
      for c = 1, k do
        out[no + c] = 3
      end
      return
    end
  end
  -- The entries pending for this consumer between the lowest and highest
  -- receipt, in one call; if the answer may be cut short, entries not in
  -- it are checked one by one. mine[id] is true while an entry is this
  -- consumer's, and false once a commit of this batch has taken it.
  local mine, complete = {}, false
  if ARGV[o + 4] ~= '' then
    local limit = tonumber(ARGV[o + 6])
    p = p or redis.call('XPENDING', stream, group, ARGV[o + 4], ARGV[o + 5], limit, consumer)
    for _, e in ipairs(p) do
      mine[e[1]] = true
    end
    complete = #p < limit
  end
  local compact = ARGV[o + 12] == '1'
  local keep = token ~= ''
  local res, acks, na = {}, {}, 0
  local i = o + 13
  for c = 1, k do
    local id, n, m, ob = ARGV[i], tonumber(ARGV[i + 1]), 0, 0
    if compact then
      i = i + 2
    else
      m, ob = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
      i = i + 4
    end
    local ok = 1
    if id ~= '' then
      local st = mine[id]
      if st == false then
        ok = 0 -- committed earlier in this batch
      elseif not st then
        if complete then
          ok = 0
        else
          local p = redis.call('XPENDING', stream, group, id, id, 1)
          if #p == 0 or p[1][2] ~= consumer then
            ok = 0
          end
        end
      end
    end
    if ok == 1 then
      for j = i, i + n - 1 do
        redis.call('XADD', stream, '*', field, ARGV[j])
      end
      i = i + n
      for _ = 1, m do
        redis.call('XADD', dlq, '*', unpack(ARGV, i, i + dlw - 1))
        i = i + dlw
      end
      for _ = 1, ob do
        redis.call('XADD', outbox, '*', 'target', ARGV[i], field, ARGV[i + 1])
        i = i + 2
      end
      if id ~= '' then
        na = na + 1
        acks[na] = id
        mine[id] = false
      end
    else
      i = i + n + dlw * m + 2 * ob
    end
    if keep then
      res[c] = ok
    end
    out[no + c] = ok
  end
  -- One XACK for the batch. Each commit stays all or nothing because no
  -- write can fail once the checks above have passed (key types; Redis 7
  -- refuses a script for memory only at its first write).
  for j = 1, na, 500 do
    redis.call('XACK', stream, group, unpack(acks, j, math.min(j + 499, na)))
  end
  if keep then
    redis.call('SET', record, token .. ':' .. table.concat(res), 'PX', ARGV[o + 10])
  end
end

local out = {}
o = 3
for g = 0, groups - 1 do
  commit(5 * g, o + 1, out, pending[g])
  o = o + 1 + tonumber(ARGV[o + 1])
end
if calltoken ~= '' then
  redis.call('SET', KEYS[3], calltoken .. ':' .. table.concat(out), 'PX', ttl)
end
return out
