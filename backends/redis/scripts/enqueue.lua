-- Adds an event to the stream unless it was added within the dedup window.
-- See Config.EnqueueDedup.
-- KEYS: stream, the event's dedup key. ARGV: the name of an entry's event
-- field, the event's wire form, the window (ms).
-- Returns the new entry's id, or false when the event is already there.
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then
  return redis.call('XADD', KEYS[1], '*', ARGV[1], ARGV[2])
end
return false
