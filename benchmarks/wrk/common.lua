-- Shared by the wrk scripts: realistic boulevard entities, unique ids, a JSON summary.
-- Loaded with dofile() from the directory of the calling script.

entities_path = "/ngsi-ld/v1/entities"
upsert_path = "/ngsi-ld/v1/entityOperations/upsert"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

-- main state: number the threads so ids never collide between them
local next_tid = 0
function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
end

-- thread state: a per-run prefix (first script argument, else random) and a counter
function init_ids(args)
   tid = tid or 0
   math.randomseed(os.time() * 1000 + tid * 7919 + math.floor(os.clock() * 1e6))
   prefix = args[1]
   if prefix == nil or prefix == "" then
      prefix = string.format("r%08x", math.random(0, 0x7fffffff))
   end
   counter = 0
   observed_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
end

function next_id()
   counter = counter + 1
   return string.format("%s-t%d-%d", prefix, tid, counter)
end

-- a CrowdFlowObserved of a camera on the boulevard: 4 attributes, a location, observedAt
local crowd_fmt = '{"id":"urn:ngsi-ld:CrowdFlowObserved:%s","type":"CrowdFlowObserved",'
   .. '"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[%.6f,%.6f]}},'
   .. '"peopleCount":{"type":"Property","value":%d,"observedAt":"%s"},'
   .. '"averageCrowdSpeed":{"type":"Property","value":%.2f,"unitCode":"MTS","observedAt":"%s"},'
   .. '"congested":{"type":"Property","value":%s,"observedAt":"%s"},'
   .. '"refDevice":{"type":"Relationship","object":"urn:ngsi-ld:Device:camera-%03d"}}'

function crowd_flow(suffix)
   return string.format(crowd_fmt, suffix,
      -3.70 + math.random() * 0.02, 40.41 + math.random() * 0.02,
      math.random(0, 400), observed_at,
      math.random() * 2.0, observed_at,
      math.random(0, 1) == 1 and "true" or "false", observed_at,
      math.random(1, 120))
end

-- a ParkingSpot of the boulevard: 4 attributes, a location, observedAt
local statuses = { "free", "occupied", "closed", "unknown" }
local spot_fmt = '{"id":"urn:ngsi-ld:ParkingSpot:%s","type":"ParkingSpot",'
   .. '"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[%.6f,%.6f]}},'
   .. '"status":{"type":"Property","value":"%s","observedAt":"%s"},'
   .. '"category":{"type":"Property","value":["onStreet","forDisabled"]},'
   .. '"width":{"type":"Property","value":%.2f,"unitCode":"MTR"},'
   .. '"refParkingSite":{"type":"Relationship","object":"urn:ngsi-ld:ParkingSite:boulevard-%02d"}}'

function parking_spot(suffix)
   return string.format(spot_fmt, suffix,
      -3.70 + math.random() * 0.02, 40.41 + math.random() * 0.02,
      statuses[math.random(1, 4)], observed_at,
      2.0 + math.random(), math.random(1, 40))
end

-- main state, at the end: one machine-readable line for benchmarks/run.py
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,"errors_read":%d,'
         .. '"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"latency_mean_us":%.1f,'
         .. '"latency_p50_us":%d,"latency_p90_us":%d,"latency_p99_us":%d,"latency_max_us":%d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
