-- room.lua is a sale's waiting room: places handed out in arrival order,
-- let in at a rate of ARGV[2] a second while any wait (counted in
-- thousandths so the arithmetic stays whole), at most ARGV[2] at once
-- after a quiet spell. Every replica runs it on the same keys, with
-- Redis's clock, so the rate holds for the whole service.
--
-- KEYS[1]  room    hash: last (last place handed out), admitted (places let
--                  in), credit (unspent admissions, thousandths), at (ms)
-- KEYS[2]  places  hash: user_id -> place
-- KEYS[3]  spent   string (join with a proof of work only): the challenge
--                  this join spends
-- ARGV[1]  "join" | "poll"
-- ARGV[2]  rate per second; 0: no room, a join only spends its challenge
-- ARGV[3]  user_id (join) | place (poll)
-- ARGV[4]  ms the room's keys outlive this call
-- ARGV[5]  ms the spent challenge is remembered (join with KEYS[3])
--
-- Reply: {place, admitted, last, credit}; {0, 0, 0, 0} with rate 0;
-- {-1, 0, 0, 0} when the challenge was spent before (nothing written).

if ARGV[1] == 'join' and KEYS[3] then
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[5]) then
    return {-1, 0, 0, 0}
  end
end
local rate = tonumber(ARGV[2])
if rate <= 0 then
  return {0, 0, 0, 0}
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local full = rate * 1000
local h = redis.call('HMGET', KEYS[1], 'last', 'admitted', 'credit', 'at')
local last = tonumber(h[1]) or 0
local admitted = tonumber(h[2]) or 0
local credit = tonumber(h[3]) or full
local at = tonumber(h[4]) or now

-- While places wait, they are let in at the rate whether or not anyone
-- asks: the time since the last call earns admissions without a cap. What
-- is left once nobody waits is capped at the rate, so a quiet spell lets
-- in at most a second's worth at once.
if now > at then
  local earned = credit + (now - at) * rate
  local n = math.min(math.floor(earned / 1000), last - admitted)
  admitted = admitted + n
  credit = math.min(full, earned - n * 1000)
  at = now
end

local place
if ARGV[1] == 'join' then
  place = tonumber(redis.call('HGET', KEYS[2], ARGV[3]))
  if not place then
    last = last + 1
    place = last
    redis.call('HSET', KEYS[2], ARGV[3], place)
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
else
  place = tonumber(ARGV[3])
  -- A place beyond the last one handed out: the room was lost (a Redis
  -- restart); new places then go behind it.
  if place > last then
    last = place
  end
end

local n = math.min(math.floor(credit / 1000), last - admitted)
if n > 0 then
  admitted = admitted + n
  credit = credit - n * 1000
end
redis.call('HSET', KEYS[1], 'last', last, 'admitted', admitted, 'credit', credit, 'at', at)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {place, admitted, last, credit}
