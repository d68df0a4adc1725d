-- warm.lua loads a sale's window and rebuilds its stock from the orders the
-- durable store holds plus the reservations still in flight. It never
-- guesses: the stock is total minus the reservations it can see.
--
-- KEYS[1]  stock   string: units remaining
-- KEYS[2]  buyers  hash: user_id -> order_no
-- KEYS[3]  resv    hash: order_no -> "R:<user_id>" | "C:<user_id>"
-- KEYS[4]  meta    hash: starts_at_ms, ends_at_ms, total
-- KEYS[5]  pend    sorted set: the in-flight index (see reserve.lua); a
--                  persisted order leaves it, reservations still in flight
--                  keep their place
-- ARGV[1]  total units
-- ARGV[2]  starts_at_ms
-- ARGV[3]  ends_at_ms
-- ARGV[4]  "1" to finish: write the window and recompute the stock;
--          "0" to only add orders (a large sale is sent in several calls,
--          the last one finishing)
-- ARGV[5]  "1" when the caller knows every order of the sale outside this
--          backend is among the persisted ones (a new sale, or a rebuild
--          whose fence passed): only then may a sale that is not loaded
--          be loaded; "0" to merge into a loaded sale only
-- ARGV[6+3k], ARGV[7+3k], ARGV[8+3k]  order_no, user_id, cancelled ("1"/"0")
--          of each persisted order
--
-- Reply: {"OK", remaining}; {"CONFLICT", order_no} when a persisted order
-- is held by another user here; {"NOT_LOADED", ""} when the sale is not
-- loaded and ARGV[5] is "0". Both write nothing. {"OVERSOLD", n} when the
-- reservations held exceed the total by n: the window and the stock are
-- not written (orders of earlier chunks may have been added).
--
-- Per persisted order:
--   not cancelled, unknown here  -> reserved, and the user becomes its buyer
--                                   unless the user holds another live one;
--   not cancelled, reserved here -> buyer restored the same way;
--   not cancelled, cancelled here -> kept cancelled (a cancellation moves
--                                   one way and may not have reached the
--                                   store yet);
--   cancelled                    -> cancelled; the user stops being a buyer
--                                   only if their buyer entry is this order.
-- Idempotent: a second identical call changes nothing.

local total = tonumber(ARGV[1])
local starts = tonumber(ARGV[2])
local ends = tonumber(ARGV[3])
local finish = ARGV[4]
local rebuild = ARGV[5]
local n = (#ARGV - 5) / 3
if not total or not starts or not ends or (finish ~= '0' and finish ~= '1')
    or (rebuild ~= '0' and rebuild ~= '1') or n < 0 or n ~= math.floor(n) then
  return redis.error_reply('ERR warm.lua: want total, starts_ms, ends_ms, finish, rebuild, then order triples')
end

-- Checks. The typed reads fail the script on a key of the wrong type before
-- anything is written.
local raw = redis.call('GET', KEYS[1])
redis.call('HLEN', KEYS[2])
redis.call('HLEN', KEYS[3])
redis.call('HLEN', KEYS[4])
redis.call('ZCARD', KEYS[5])
if rebuild ~= '1' and (not raw or redis.call('EXISTS', KEYS[4]) == 0) then
  return {'NOT_LOADED', ''}
end
local owner = {}
for i = 0, n - 1 do
  local no, user = ARGV[6 + 3 * i], ARGV[7 + 3 * i]
  local state = redis.call('HGET', KEYS[3], no)
  if state and string.sub(state, 3) ~= user then
    return {'CONFLICT', no}
  end
  if owner[no] and owner[no] ~= user then
    return {'CONFLICT', no}
  end
  owner[no] = user
end

-- Writes.
for i = 0, n - 1 do
  local no, user, cancelled = ARGV[6 + 3 * i], ARGV[7 + 3 * i], ARGV[8 + 3 * i]
  local state = redis.call('HGET', KEYS[3], no)
  redis.call('ZREM', KEYS[5], no)
  if cancelled == '1' then
    if state ~= 'C:' .. user then
      redis.call('HSET', KEYS[3], no, 'C:' .. user)
    end
    if redis.call('HGET', KEYS[2], user) == no then
      redis.call('HDEL', KEYS[2], user)
    end
  else
    if not state then
      state = 'R:' .. user
      redis.call('HSET', KEYS[3], no, state)
    end
    if state == 'R:' .. user then
      local holder = redis.call('HGET', KEYS[2], user)
      if holder ~= no then
        local live = holder and redis.call('HGET', KEYS[3], holder) == 'R:' .. user
        if not live then
          redis.call('HSET', KEYS[2], user, no)
        end
      end
    end
  end
end

if finish ~= '1' then
  return {'OK', ''}
end

local reserved = 0
for _, state in ipairs(redis.call('HVALS', KEYS[3])) do
  if string.sub(state, 1, 2) == 'R:' then
    reserved = reserved + 1
  end
end
local remaining = total - reserved
if remaining < 0 then
  -- More units held than the sale has: never write a negative stock. The
  -- stock (and the window) stay as they were, so a lost sale stays closed.
  return {'OVERSOLD', tostring(-remaining)}
end
redis.call('HSET', KEYS[4], 'starts_at_ms', ARGV[2], 'ends_at_ms', ARGV[3], 'total', ARGV[1])
redis.call('SET', KEYS[1], remaining)
return {'OK', tostring(remaining)}
