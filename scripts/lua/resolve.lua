-- resolve.lua settles reservations whose reserve.lua call went unanswered
-- (a timeout, a reset): the call may or may not have run, and a copy of it
-- may still be on its way to the server. For each order number it reports
-- whether the reservation stands, and makes sure it never will if it does
-- not: an unknown order number is recorded as cancelled, so that a late
-- copy of the lost call finds it known (ORDER_USED) and takes no unit.
--
-- KEYS[1]  resv    hash: order_no -> "R:<user_id>" | "C:<user_id>"
-- ARGV[2k-1], ARGV[2k]  user_id and order_no of the k-th reservation, k >= 1
--
-- Reply: one status per reservation, in request order: R (reserved for
-- this user: the lost call ran), C (known but not reserved for this user),
-- A (absent: now recorded as cancelled). Writes only on A; never touches
-- the stock, the buyers or the in-flight index.

local n = #ARGV / 2
if n < 1 or n ~= math.floor(n) then
  return redis.error_reply('ERR resolve.lua: want user_id, order_no pairs')
end
local out = {}
for i = 1, n do
  local user, no = ARGV[2 * i - 1], ARGV[2 * i]
  local state = redis.call('HGET', KEYS[1], no)
  if state == 'R:' .. user then
    out[i] = 'R'
  elseif state then
    out[i] = 'C'
  else
    redis.call('HSET', KEYS[1], no, 'C:' .. user)
    out[i] = 'A'
  end
end
return out
