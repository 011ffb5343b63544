-- Moves one dead letter back to the main stream. See deadletters.go.
-- KEYS: stream, dead-letter stream. ARGV: dead-letter id, event wire form,
-- the name of an entry's event field.
-- Deletes the dead letter and re-adds its event to the main stream, or does
-- nothing if the dead letter is already gone (redriven by someone else).
-- Returns 1 when it moved it, else 0.
if redis.call('XDEL', KEYS[2], ARGV[1]) == 1 then
  redis.call('XADD', KEYS[1], '*', ARGV[3], ARGV[2])
  return 1
end
return 0
