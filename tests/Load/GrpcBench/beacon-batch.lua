-- wrk script: POST /beacon (or URL_PATH) with BATCH product views (env BATCH, TOKEN), each with an event_id unique across runs
-- (RUN is a fresh prefix per wrk process; a repeated id would be a cheap duplicate and inflate the figure).
-- Without RUN the events carry no event_id, and 64 prepared requests are cycled.
local batch = tonumber(os.getenv("BATCH") or "100")
local token = os.getenv("TOKEN")
local run = os.getenv("RUN") or ""  -- empty: no event_id at all
local path = os.getenv("URL_PATH") or "/beacon"  -- the floors of scripts/bench get the same requests on their own path
local counter = 0
local thread_id = 0

setup = function(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

local prepared = nil  -- without event ids: 64 requests built once and cycled, as the gRPC generator sends prepared bytes

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
    ["User-Agent"] = "BeaconLoad/1.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)",
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
