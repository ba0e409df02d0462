-- wrk script: POST one Layers batch of BATCH events (default 1) with TOKEN, as sendBeacon would (text/plain).
-- Usage: BATCH=100 TOKEN=bk_... wrk -t2 -c64 -d10s --latency -s post-batch.lua http://127.0.0.1:5080/beacon
local batch = tonumber(os.getenv("BATCH") or "1")
local token = os.getenv("TOKEN") or ""

local event = '{"event_type":"product_click","timestamp":"2025-01-15T14:30:00Z","session_id":"abc123",' ..
  '"device_id":"device-uuid","attribution_token":"2y10smI2dB7XZXXFJsLUELltgueq8NRd","product_id":7003338965178,"position":3}'
local events = {}
for i = 1, batch do
  events[i] = event
end

wrk.method = "POST"
wrk.body = '{"events":[' .. table.concat(events, ",") .. ']}'
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["X-Storefront-Access-Token"] = token
wrk.headers["User-Agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 " ..
  "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"

-- UA_SHAPE=issue|semis|spider|bot: a unique crafted User-Agent on every request (issue 13's CPU attack on the
-- User-Agent parser); unset, the one iPhone User-Agent above (served from the parser's cache).
local shape = os.getenv("UA_SHAPE")
local prefixes = {
  issue = "Mozilla/5.0 (" .. string.rep("; ", 480),               -- the issue's 1 KB shape: over the length cap
  semis = "Mozilla/5.0 (Linux; Android 10" .. string.rep("; ", 230), -- the same under the cap
  spider = "Mozilla/5.0 (" .. string.rep(" ", 400),                -- the costliest bot rule: ends in " Spider/1.0 bot crawler"
  bot = "Mozilla/5.0 (" .. string.rep("bot ", 100),
}
local suffixes = { spider = " Spider/1.0 bot crawler" }
if shape then
  local prefix = assert(prefixes[shape], "unknown UA_SHAPE")
  local suffix = suffixes[shape] or ""
  math.randomseed(tonumber(tostring({}):match("0x(%x+)"), 16) or os.time())
  local counter = 0
  request = function()
    counter = counter + 1
    wrk.headers["User-Agent"] = prefix .. string.format("%x%x", math.random(0, 0x7fffffff), counter) .. suffix
    return wrk.format()
  end
end
