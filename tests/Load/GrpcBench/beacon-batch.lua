-- wrk script: POST /beacon (or URL_PATH) with BATCH product views (env BATCH, TOKEN), each with an event_id unique across runs
-- (RUN is a fresh prefix per wrk process; a repeated id would be a cheap duplicate and inflate the figure).
-- Without RUN the events carry no event_id, and 64 prepared requests are cycled.
local batch = tonumber(os.getenv("BATCH") or "100")
local token = os.getenv("TOKEN")
local run = os.getenv("RUN") or ""  -- empty: no event_id at all
local path = os.getenv("URL_PATH") or "/beacon"  -- the floors of scripts/bench get the same requests on their own path
-- UA: "load" (BeaconLoad/1.0), "browser" (a desktop Chrome's) or "crafted" (a unique one per request, in turn each of
-- the five shapes below, built to make the User-Agent parser work hardest; issue 13).
-- "crafted0" … "crafted4": one shape only.
local ua = os.getenv("UA") or "load"
local fixed_shape = tonumber(string.match(ua, "^crafted(%d)$") or "")
local counter = 0
local thread_id = 0

setup = function(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

local prepared = nil  -- without event ids: 64 requests built once and cycled, as the gRPC generator sends prepared bytes

local browser_ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

-- Product tokens whose names are literals uap-core's rules require, so that many rules pass the literal prefilter.
local products = { "Chrome/1.0", "Firefox/2.0", "Safari/3.0", "Version/4.0", "Mobile/5.0", "OPR/6.0", "Edg/7.0",
  "CriOS/8.0", "FxiOS/9.0", "SamsungBrowser/1.1", "UCBrowser/1.2", "YaBrowser/1.3", "Gecko/1.4", "AppleWebKit/1.5",
  "Opera/1.6", "MSIE/1.7", "Trident/1.8", "Silk/1.9", "Kindle/2.1", "Android/2.2", "iPhone/2.3", "Windows/2.4" }

local crafted_ua = function()
  local unique = string.format("%s%d-%d", run, tid or 0, counter)
  local shape = fixed_shape or counter % 5
  if shape == 0 then
    -- The issue's measurement: 1 KB of separators (over the parser's length cap).
    return "Mozilla/5.0 (" .. string.rep("; ", 480) .. unique
  elseif shape == 1 then
    -- A long run of nested parentheses, just under the 512-character cap.
    return "Mozilla/5.0 " .. string.rep("(", 230) .. unique .. string.rep(")", 230)
  elseif shape == 2 then
    -- A very long product token list, every token a literal some rule needs.
    local parts = { "Mozilla/5.0 (Linux; Android 10; SM-G960F Build/QP1A) " }
    local length = #parts[1]
    local i = 0
    while length < 470 do
      i = i + 1
      local token = products[(i + counter) % #products + 1] .. " "
      parts[#parts + 1] = token
      length = length + #token
    end
    parts[#parts + 1] = unique
    return table.concat(parts)
  elseif shape == 3 then
    -- Near the cap, a token repeated that almost matches uap-core's list of ~200 crawler names (~1.4 ms a User-Agent
    -- on the backtracking engine; searched in linear time since, docs/ingestion.md "User-Agent data").
    return "Mozilla/5.0 (" .. string.rep("ip2 ", 118) .. unique
  else
    -- A costly bot rule that does match: its backtracking regex runs in full for its groups.
    return "Mozilla/5.0 (" .. string.rep(" ", 237) .. "Spider/1 " .. unique
  end
end

local build = function()
  local events = {}
  for i = 1, batch do
    counter = counter + 1
    if run == "" then
      events[i] = string.format(
        '{"event_type":"product_view","timestamp":"2026-11-25T12:00:00Z","session_id":"s1","device_id":"d1","product_id":"%d","shopping_channel":"app"}',
        8000000000 + counter % 5000)
    else
      events[i] = string.format(
        '{"event_id":"%s-%d-%012d","event_type":"product_view","timestamp":"2026-11-25T12:00:00Z","session_id":"s1","device_id":"d1","product_id":"%d","shopping_channel":"app"}',
        run, tid or 0, counter, 8000000000 + counter % 5000)
    end
  end
  local body = '{"events":[' .. table.concat(events, ",") .. ']}'
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-Storefront-Access-Token"] = token,
    ["User-Agent"] = ua == "browser" and browser_ua or string.sub(ua, 1, 7) == "crafted" and crafted_ua()
      or "BeaconLoad/1.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)",
  }, body)
end

request = function()
  if run ~= "" then
    return build()  -- every event_id unique: each request is built anew
  end
  if not prepared then
    prepared = {}
    for i = 1, 64 do
      prepared[i] = build()
    end
  end
  counter = counter + 1
  return prepared[counter % 64 + 1]
end
