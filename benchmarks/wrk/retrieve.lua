-- Retrieve by id: GET /ngsi-ld/v1/entities/{id} over pre-created entities
-- urn:ngsi-ld:CrowdFlowObserved:<prefix>-<i>, i in [0, count), picked at random
-- (a prefix starting with "urn:" is taken as the whole id prefix: urn:ngsi-ld:ParkingSpot:x).
-- wrk -t1 -c32 -d10s -s retrieve.lua http://127.0.0.1:1026 -- <prefix> <count>
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

function init(args)
   init_ids({})
   id_prefix = args[1] or "preload"
   if id_prefix:sub(1, 4) ~= "urn:" then
      id_prefix = "urn:ngsi-ld:CrowdFlowObserved:" .. id_prefix
   end
   id_count = tonumber(args[2] or "10000")
end

function request()
   return wrk.format("GET", string.format("%s/%s-%d", entities_path, id_prefix, math.random(0, id_count - 1)))
end
