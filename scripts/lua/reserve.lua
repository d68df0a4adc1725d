-- reserve.lua decides one or more reservations of one sale in one atomic step.
--
-- KEYS[1]  stock   string: units remaining
-- KEYS[2]  buyers  hash: user_id -> order_no
-- KEYS[3]  resv    hash: order_no -> "R:<user_id>" (reserved) | "C:<user_id>" (cancelled)
-- KEYS[4]  meta    hash: starts_at_ms, ends_at_ms, total
-- KEYS[5]  pend    sorted set: order_no of each reservation MySQL is not yet
--                  known to hold, scored by when it is next due for a check
--                  (at first, its reservation time)
-- ARGV[1]  now, unix milliseconds
-- ARGV[2k], ARGV[2k+1]  user_id and order_no of the k-th reservation, k >= 1
--
-- Reply: the number of reservations when every one of them is OK (the
-- common case, kept short); otherwise a flat array with two entries per
-- reservation, in request order: a status and a detail. Statuses: OK,
-- NOT_LOADED, NOT_STARTED, ENDED, SOLD_OUT, DUP (detail: the order_no the
-- user already holds), ORDER_USED (detail: the order_no, already known to
-- the sale).
--
-- Every check happens before the first write: the buyers and reservations
-- of the whole call are read with one HMGET each. Reservations are decided
-- in order; a later one sees the earlier ones of the same call, so the same
-- user twice gets DUP the second time. The accepted ones are then written at
-- once.

local now = tonumber(ARGV[1])
local n = (#ARGV - 1) / 2
if not now or n < 1 or n ~= math.floor(n) then
  return redis.error_reply('ERR reserve.lua: want now_ms then user_id, order_no pairs')
end

local function every(status)
  local out = {}
  for i = 1, n do
    out[2 * i - 1] = status
    out[2 * i] = ''
  end
  return out
end

local raw = redis.call('GET', KEYS[1])
local window = redis.call('HMGET', KEYS[4], 'starts_at_ms', 'ends_at_ms')
local starts, ends = tonumber(window[1]), tonumber(window[2])
if not raw or not starts or not ends or not string.match(raw, '^%-?%d+$') then
  return every('NOT_LOADED')
end
if now < starts then
  return every('NOT_STARTED')
end
if now >= ends then
  return every('ENDED')
end

local left = tonumber(raw)
local out = {}
local held = {}      -- user_id -> order_no granted by this call
local used = {}      -- order_no -> true, granted by this call
local buyerArgs = {}
local resvArgs = {}
local pendArgs = {}
local granted = 0

local users, nos = {}, {}
for i = 1, n do
  users[i] = ARGV[2 * i]
  nos[i] = ARGV[2 * i + 1]
end
-- A field HMGET does not find reads as false.
local holders = redis.call('HMGET', KEYS[2], unpack(users))
local known = redis.call('HMGET', KEYS[3], unpack(nos))

for i = 1, n do
  local user, no = users[i], nos[i]
  local status, detail = 'OK', ''
  local holder = held[user] or holders[i]
  if holder then
    status, detail = 'DUP', holder
  elseif used[no] or known[i] then
    status, detail = 'ORDER_USED', no
  elseif left <= 0 then
    status = 'SOLD_OUT'
  else
    left = left - 1
    granted = granted + 1
    held[user] = no
    used[no] = true
    buyerArgs[#buyerArgs + 1] = user
    buyerArgs[#buyerArgs + 1] = no
    resvArgs[#resvArgs + 1] = no
    resvArgs[#resvArgs + 1] = 'R:' .. user
    pendArgs[#pendArgs + 1] = now
    pendArgs[#pendArgs + 1] = no
  end
  out[2 * i - 1] = status
  out[2 * i] = detail
end

if granted > 0 then
  redis.call('DECRBY', KEYS[1], granted)
  redis.call('HSET', KEYS[2], unpack(buyerArgs))
  redis.call('HSET', KEYS[3], unpack(resvArgs))
  redis.call('ZADD', KEYS[5], unpack(pendArgs))
end
if granted == n then
  return n
end
return out
