-- wrk script for bench/loadtest_vs_wrk.py: the reference app's weighted request mix, sent with the
-- tokens and ids of real seeded users (written by the bench into bench-users.lua next to this file).
--   wrk -t1 -c16 -d10s -s bench/loadtest_mix.lua http://127.0.0.1:PORT
-- Each request picks a user (token + the user's own post and conversation ids) and an endpoint by
-- weight, as hmb-ops' FastHttpUser behaviour does.

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local data = dofile(here .. "bench-users.lua")   -- { users = {{token=, posts={..}, conversations={..}, email=}}, mix = {{key, weight}, ...}, password = }

local total = 0
local cumulative = {}
for _, entry in ipairs(data.mix) do
  total = total + entry[2]
  cumulative[#cumulative + 1] = { entry[1], total }
end

local words = { "engineer", "chef", "nurse", "driver", "teacher", "manager", "sales", "remote" }

local function pick(list)
  return list[math.random(#list)]
end

local function choose()
  local r = math.random() * total
  for _, c in ipairs(cumulative) do
    if r < c[2] then return c[1] end
  end
  return cumulative[#cumulative][1]
end

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  local u = pick(data.users)
  local key = choose()
  local auth = { ["Authorization"] = "Bearer " .. u.token, ["Accept"] = "application/json" }
  if key == "login" then
    return wrk.format("POST", "/api/auth/login", { ["Content-Type"] = "application/json" },
      '{"email": "' .. u.email .. '", "password": "' .. data.password .. '"}')
  elseif key == "health" then
    return wrk.format("GET", "/health")
  elseif key == "feed" then
    return wrk.format("GET", "/api/feed", auth)
  elseif key == "jobs" then
    return wrk.format("GET", "/api/jobs", auth)
  elseif key == "jobs_search" then
    return wrk.format("GET", "/api/jobs?q=" .. pick(words), auth)
  elseif key == "conversations" then
    return wrk.format("GET", "/api/messages/conversations", auth)
  elseif key == "unread_count" then
    return wrk.format("GET", "/api/messages/unread-count", auth)
  elseif key == "notifications" then
    return wrk.format("GET", "/api/notifications", auth)
  elseif key == "conversation_messages" and #u.conversations > 0 then
    return wrk.format("GET", "/api/messages/conversations/" .. pick(u.conversations) .. "/messages", auth)
  elseif key == "post_detail" and #u.posts > 0 then
    return wrk.format("GET", "/api/posts/" .. pick(u.posts), auth)
  elseif key == "like" and #u.posts > 0 then
    auth["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/posts/" .. pick(u.posts) .. "/like", auth, "")
  elseif key == "create_post" then
    auth["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/posts", auth, '{"content": "load test post from wrk", "post_type": "text"}')
  end
  return wrk.format("GET", "/api/feed", auth)
end
