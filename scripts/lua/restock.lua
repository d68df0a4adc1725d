-- restock.lua raises a loaded sale's total, and its stock by as much, to a
-- new total: stock is added to a sale only upwards and only once.
--
-- KEYS[1]  stock   string: units remaining
-- KEYS[2]  buyers  hash (not touched; the keys are those of the other scripts)
-- KEYS[3]  resv    hash (not touched)
-- KEYS[4]  meta    hash: starts_at_ms, ends_at_ms, total
-- KEYS[5]  pend    sorted set (not touched)
-- ARGV[1]  the new total units
--
-- Reply: {"OK", remaining, "1"} when the total was raised, {"OK",
-- remaining, "0"} when it already was at or above the new total (a repeat
-- changes nothing); {"NOT_LOADED", "", "0"} when the sale is not loaded,
-- which writes nothing. remaining + |RESERVED| = total holds before and
-- after: both grow by the same amount.

local total = tonumber(ARGV[1])
if not total or total < 0 or total ~= math.floor(total) then
  return redis.error_reply('ERR restock.lua: want the new total, an integer of 0 or more')
end
local raw = redis.call('GET', KEYS[1])
local cur = tonumber(redis.call('HGET', KEYS[4], 'total'))
if not raw or not cur or not string.match(raw, '^%-?%d+$') then
  return {'NOT_LOADED', '', '0'}
end
if total <= cur then
  return {'OK', raw, '0'}
end
local remaining = redis.call('INCRBY', KEYS[1], total - cur)
redis.call('HSET', KEYS[4], 'total', ARGV[1])
return {'OK', tostring(remaining), '1'}
