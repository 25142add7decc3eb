"""Discovery: /types, /types/{type}, /attributes, /attributes/{attrId} (clause 5.7.5-5.7.8)."""

from __future__ import annotations

from support import EX, USER_CTX_URL, Api, assert_problem, link


def _load(api: Api) -> None:
    hdr = {"Link": link(USER_CTX_URL)}
    api.create({"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": 20,
                "isIn": {"type": "Relationship", "object": "urn:ngsi-ld:Building:1"}}, headers=hdr)
    api.create({"id": "urn:ngsi-ld:Room:2", "type": "Room", "temperature": [
        {"type": "Property", "value": 21}, {"type": "Property", "value": 22, "datasetId": "urn:ds:b"}]}, headers=hdr)
    api.create({"id": "urn:ngsi-ld:Lamp:1", "type": "Lamp", "status": "on"})


def test_type_list_compacts_with_the_request_context(api: Api) -> None:
    _load(api)
    body = api.get("/types", headers={"Link": link(USER_CTX_URL)}).json()
    assert body["type"] == "EntityTypeList"
    assert body["id"].startswith("urn:ngsi-ld:EntityTypeList:")
    assert sorted(body["typeList"]) == ["Lamp", "Room"]
    plain = api.get("/types").json()
    assert sorted(plain["typeList"]) == ["Lamp", EX + "Room"]


def test_type_details_name_the_attributes(api: Api) -> None:
    _load(api)
    body = api.get("/types", params={"details": "true"}, headers={"Link": link(USER_CTX_URL)}).json()
    rooms = next(t for t in body if t["typeName"] == "Room")
    assert rooms == {"id": EX + "Room", "type": "EntityType", "typeName": "Room",
                     "attributeNames": ["temperature", "isIn"]}


def test_type_info_counts_entities_and_attribute_types(api: Api) -> None:
    _load(api)
    body = api.get("/types/Room", headers={"Link": link(USER_CTX_URL)}).json()
    assert body["type"] == "EntityTypeInfo"
    assert body["entityCount"] == 2
    details = {d["attributeName"]: d["attributeTypes"] for d in body["attributeDetails"]}
    assert details == {"temperature": ["Property"], "isIn": ["Relationship"]}
    # without the context, "Room" is another type: none of those
    assert_problem(api.get("/types/Room"), 404, "ResourceNotFound")


def test_attribute_list_and_details(api: Api) -> None:
    _load(api)
    hdr = {"Link": link(USER_CTX_URL)}
    body = api.get("/attributes", headers=hdr).json()
    assert body["type"] == "AttributeList"
    assert sorted(body["attributeList"]) == ["isIn", "status", "temperature"]
    info = api.get("/attributes/temperature", headers=hdr).json()
    # three instances of temperature: one in Room:1, two (datasetIds) in Room:2
    assert info == {"id": EX + "temperature", "type": "Attribute", "attributeName": "temperature",
                    "attributeCount": 3, "attributeTypes": ["Property"], "typeNames": ["Room"]}
    details = api.get("/attributes", params={"details": "true"}, headers=hdr).json()
    assert {d["attributeName"] for d in details} == {"isIn", "status", "temperature"}
    assert all("attributeCount" not in d for d in details)


def test_discovery_is_per_tenant(api: Api) -> None:
    _load(api)
    api.create({"id": "urn:ngsi-ld:Bench:1", "type": "Bench"}, headers={"NGSILD-Tenant": "other"})
    other = api.get("/types", headers={"NGSILD-Tenant": "other"}).json()
    assert other["typeList"] == ["Bench"]
    assert_problem(api.get("/types", headers={"NGSILD-Tenant": "nobody"}), 404, "NonexistentTenant")


def test_discovery_rejects_undefined_parameters(api: Api) -> None:
    _load(api)
    assert_problem(api.get("/attributes", params={"limit": "5"}), 400, "InvalidRequest")
    assert_problem(api.get("/types/Lamp", params={"details": "true"}), 400, "InvalidRequest")
    assert_problem(api.get("/types", params={"details": "maybe"}), 400, "BadRequestData")
    assert_problem(api.get("/attributes/nothing"), 404, "ResourceNotFound")
