-- release.lua is the one guarded compensation: it moves a reservation
-- RESERVED -> CANCELLED and gives its unit back only on that move.
--
-- KEYS[1]  stock   string: units remaining
-- KEYS[2]  buyers  hash: user_id -> order_no
-- KEYS[3]  resv    hash: order_no -> "R:<user_id>" | "C:<user_id>"
-- KEYS[4]  pend    sorted set: the in-flight index (see reserve.lua)
-- ARGV[1]  order_no
--
-- Reply: NOT_LOADED when the stock key is missing (never loaded, or lost:
-- the reservations may be gone with it and come back with a rebuild, so
-- nothing here can say the unit is back), writing nothing; else 1 when
-- this call made the move; 0 when there was nothing to move (unknown
-- order, already cancelled), writing nothing. Never creates a key.

local raw = redis.call('GET', KEYS[1])
if not raw or not string.match(raw, '^%-?%d+$') then
  return 'NOT_LOADED'
end
local state = redis.call('HGET', KEYS[3], ARGV[1])
if not state or string.sub(state, 1, 2) ~= 'R:' then
  return 0
end
local user = string.sub(state, 3)
local holder = redis.call('HGET', KEYS[2], user)

redis.call('HSET', KEYS[3], ARGV[1], 'C:' .. user)
redis.call('INCR', KEYS[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if holder == ARGV[1] then
  redis.call('HDEL', KEYS[2], user)
end
return 1
