-- wrk script for bench/store.sh: every request is GET /api/users/{id}, with
-- the id picked at random from 1..USERS (default 100), so the store is
-- asked for users all over the table instead of one hot row.
--
-- Usage: wrk -t2 -c16 -d10s --latency -s bench/random-user.lua \
--          http://127.0.0.1:PORT/ -- [USERS]
--
-- The requests are formatted once, in init(); request() only picks one, so
-- the script adds as little as it can to wrk's own CPU time (wrk shares the
-- machine with the server). Each wrk thread has its own Lua state, seeded
-- with its own number: the threads do not repeat each other's ids.

local threads = 0

-- Runs once per thread, in the main Lua state, before the threads start.
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local requests = {}

-- Runs in each thread's own Lua state; args are what follows `--`.
function init(args)
  local users = tonumber(args[1] or "100")
  if users == nil or users < 1 or users ~= math.floor(users) then
    error("random-user.lua: USERS must be a whole number >= 1, got " .. tostring(args[1]))
  end
  for id = 1, users do
    requests[id] = wrk.format("GET", "/api/users/" .. id)
  end
  math.randomseed(os.time() * 1000 + (thread_number or 0))
end

function request()
  return requests[math.random(#requests)]
end
