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
