-- Single create: POST /ngsi-ld/v1/entities, one new CrowdFlowObserved per request.
-- wrk -t1 -c32 -d10s -s create.lua http://127.0.0.1:1026 -- [id-prefix]
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "common.lua")

function init(args)
   init_ids(args)
end

function request()
   return wrk.format("POST", entities_path, nil, crowd_flow(next_id()))
end
