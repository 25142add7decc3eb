-- Batch upsert: POST /ngsi-ld/v1/entityOperations/upsert, N new ParkingSpots per request (default 100).
-- wrk -t1 -c8 -d10s -s batch_upsert.lua http://127.0.0.1:1026 -- [id-prefix] [N]
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

function init(args)
   init_ids(args)
   batch_size = tonumber(args[2] or "100")
end

function request()
   local parts = {}
   for i = 1, batch_size do
      parts[i] = parking_spot(next_id())
   end
   return wrk.format("POST", upsert_path, nil, "[" .. table.concat(parts, ",") .. "]")
end
