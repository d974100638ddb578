"""Built-in routes and what every HTTP response goes through: the error envelope, request ids,
body limits, rate limits, CORS, gzip and the OpenAPI document."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
import pytest
from quart import Blueprint
from quart_rate_limiter import rate_limit
from quart_schema import validate_querystring, validate_request, validate_response
from tortoise import Tortoise

from commonly_kernel import (
    Actor,
    MessageOut,
    QueryArgs,
    RequestBody,
    WireModel,
    document_errors,
    hookimpl,
)
from commonly_kernel.app import __version__

TOKEN = "probe-token"
FRONTEND = "https://app.commonly.test"


class ItemIn(RequestBody):
    name: str
    count_total: int
    secret: str = ""


class ItemOut(WireModel):
    name: str
    count_total: int


class ItemQuery(QueryArgs):
    limit: int = 20


class ItemList(WireModel):
    items: list[ItemOut]
    limit: int


def probe_blueprint() -> Blueprint:
    blueprint = Blueprint("probe", __name__, url_prefix="/api/probe")

    @blueprint.post("/items")
    @document_errors(409)
    @validate_request(ItemIn)
    @validate_response(ItemOut, 201)
    async def create_item(data: ItemIn) -> tuple[ItemOut, int]:
        return ItemOut(name=data.name, count_total=data.count_total), 201

    @blueprint.get("/items")
    @validate_querystring(ItemQuery)
    @validate_response(ItemList)
    async def list_items(query_args: ItemQuery) -> ItemList:
        return ItemList(items=[], limit=query_args.limit)

    @blueprint.delete("/items/<name>")
    @validate_response(MessageOut)
    async def delete_item(name: str) -> MessageOut:
        return MessageOut(message=f"{name} deleted")

    @blueprint.get("/big")
    async def big() -> dict[str, list[str]]:
        return {"words": ["commonly"] * 2000}

    @blueprint.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password is hunter2")

    @blueprint.get("/limited")
    @rate_limit(1, timedelta(minutes=1))
    async def limited() -> dict[str, bool]:
        return {"ok": True}

    @blueprint.post("/close-database")
    async def close_database() -> MessageOut:
        # What /ready sees when the database has gone away under a running server.
        await Tortoise.close_connections()
        return MessageOut(message="closed")

    return blueprint


class ProbePlugin:
    name = "probe"

    @hookimpl
    def commonly_register_blueprints(self):
        return [probe_blueprint()]

    @hookimpl
    def commonly_actor_from_token(self, token):
        return Actor(id="u1", username="ada") if token == TOKEN else None


@pytest.fixture
def commonly_plugins():
    return [ProbePlugin()]


@pytest.fixture
def commonly_settings():
    return {"COMMONLY_MAX_BODY_BYTES": "2048", "FRONTEND_URL": f"{FRONTEND},http://localhost:5173"}


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["requestId"] == response.headers["X-Request-Id"]
    return body


# -- built-in routes ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/api/health"])
async def test_health_shape(client, path):
    response = await client.get(path)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "version", "uptime"}
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert isinstance(body["uptime"], float) and body["uptime"] >= 0


async def test_ready_when_database_answers(client):
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_ready_503_when_database_is_gone(client):
    assert (await client.post("/api/probe/close-database")).status_code == 200
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}
    assert response.headers["X-Request-Id"]


async def test_plugins_requires_a_token(client):
    assert_envelope(await client.get("/api/plugins"), 401, "unauthorized")


async def test_plugins_lists_name_version_hooks(client):
    response = await client.get("/api/plugins", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.json() == {"plugins": [{
        "name": "probe",
        "version": "0",
        "requires": [],
        "hooks": ["commonly_actor_from_token", "commonly_register_blueprints"],
    }]}


# -- the error envelope -------------------------------------------------------------------------


async def test_envelope_404_unknown_path(client):
    body = assert_envelope(await client.get("/api/nothing-here"), 404, "not_found")
    assert "details" not in body


async def test_envelope_405_wrong_method(client):
    response = await client.put("/api/probe/items", json={})
    assert_envelope(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


async def test_envelope_413_body_over_limit(client):
    response = await client.post("/api/probe/items", json={"name": "x" * 4096, "countTotal": 1})
    assert_envelope(response, 413, "payload_too_large")


async def test_envelope_400_malformed_json(client):
    response = await client.post("/api/probe/items", content=b'{"name": "a",',
                                 headers={"Content-Type": "application/json"})
    body = assert_envelope(response, 400, "bad_request")
    assert "JSON" in body["message"]


async def test_envelope_400_body_not_utf8(client):
    response = await client.post("/api/probe/items", content=b'{"name": "\xff\xfe"}',
                                 headers={"Content-Type": "application/json"})
    body = assert_envelope(response, 400, "bad_request")
    assert "UTF-8" in body["message"]


async def test_envelope_400_validation_details_without_values(client):
    response = await client.post(
        "/api/probe/items", json={"name": 12, "countTotal": "many", "secret": ["hunter2"], "admin": "hunter2"}
    )
    body = assert_envelope(response, 400, "validation_error")
    fields = {item["field"] for item in body["details"]}
    assert fields == {"name", "countTotal", "secret", "admin"}
    assert all(set(item) == {"field", "message", "type"} for item in body["details"])
    assert "hunter2" not in response.text
    assert "many" not in response.text


async def test_envelope_400_bad_query_value(client):
    body = assert_envelope(await client.get("/api/probe/items", params={"limit": "abc"}), 400,
                           "validation_error")
    assert body["details"][0]["field"] == "limit"


async def test_query_unknown_parameter_ignored(client):
    response = await client.get("/api/probe/items", params={"limit": "5", "utm_source": "cli"})
    assert response.status_code == 200
    assert response.json() == {"items": [], "limit": 5}


async def test_envelope_429_with_retry_after(client):
    assert (await client.get("/api/probe/limited")).status_code == 200
    response = await client.get("/api/probe/limited")
    assert_envelope(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


async def test_envelope_500_hides_the_error(client, caplog):
    with caplog.at_level(logging.ERROR, logger="commonly"):
        response = await client.get("/api/probe/boom")
    body = assert_envelope(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "details" not in body
    assert any("hunter2" in (record.exc_text or "") for record in caplog.records)


async def test_request_id_echoed(client):
    response = await client.get("/api/nothing-here", headers={"X-Request-Id": "req-42.abc"})
    assert response.headers["X-Request-Id"] == "req-42.abc"
    assert response.json()["requestId"] == "req-42.abc"


async def test_request_id_insane_value_replaced(client):
    response = await client.get("/health", headers={"X-Request-Id": "<script>" * 3})
    assert response.headers["X-Request-Id"] != "<script>" * 3
    assert len(response.headers["X-Request-Id"]) == 32


async def test_request_id_on_success(client):
    first = await client.get("/health")
    second = await client.get("/health")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


# -- request bodies -----------------------------------------------------------------------------


async def test_body_valid_request_and_camel_case_response(client):
    response = await client.post("/api/probe/items", json={"name": "lamp", "countTotal": 3})
    assert response.status_code == 201
    assert response.json() == {"name": "lamp", "countTotal": 3}


async def test_body_empty_with_json_content_type_on_get_and_delete(client):
    headers = {"Content-Type": "application/json"}
    assert (await client.get("/health", headers=headers)).status_code == 200
    response = await client.request("DELETE", "/api/probe/items/lamp", headers=headers, content=b"")
    assert response.status_code == 200
    assert response.json() == {"message": "lamp deleted"}


@pytest.mark.parametrize("headers", [{"Content-Type": "application/json"}, {}])
async def test_body_empty_on_post_is_an_empty_object(client, headers):
    # Not "malformed JSON": the fields the route requires are named as missing.
    response = await client.post("/api/probe/items", headers=headers, content=b"")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert {detail["field"] for detail in body["details"]} == {"name", "countTotal"}


# -- CORS and gzip ------------------------------------------------------------------------------


async def test_cors_frontend_origin_allowed(client):
    response = await client.get("/health", headers={"Origin": FRONTEND})
    assert response.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Request-Id" in response.headers["Access-Control-Expose-Headers"]


async def test_cors_preflight(client):
    response = await client.options("/api/probe/items", headers={
        "Origin": "http://localhost:5173",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


async def test_cors_other_origin_not_allowed(client):
    response = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_gzip_large_json(client):
    response = await client.get("/api/probe/big", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert int(response.headers["Content-Length"]) < len(json.dumps(response.json()))
    assert response.json()["words"][:2] == ["commonly", "commonly"]


async def test_gzip_not_without_accept_encoding(client):
    response = await client.get("/api/probe/big", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in response.headers
    assert len(response.json()["words"]) == 2000


async def test_gzip_not_for_small_json(client):
    response = await client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers


# -- OpenAPI ------------------------------------------------------------------------------------


async def test_openapi_operation_ids_prefixed_and_unique(client):
    document = (await client.get("/openapi.json")).json()
    operations = [
        (path, operation) for path, item in document["paths"].items() for operation in item.values()
    ]
    ids = [operation["operationId"] for _, operation in operations]
    assert len(ids) == len(set(ids))
    for path, operation in operations:
        prefix = "probe_" if path.startswith("/api/probe") else "kernel_"
        assert operation["operationId"].startswith(prefix), (path, operation["operationId"])
    assert {"probe_list_items", "probe_create_item"} <= set(ids)


async def test_openapi_errors_use_the_envelope(client):
    document = (await client.get("/openapi.json")).json()
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "message", "requestId"]
    create = document["paths"]["/api/probe/items"]["post"]["responses"]
    for status in ("400", "409", "413"):
        schema = create[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    assert "429" in document["paths"]["/api/probe/limited"]["get"]["responses"]
    plugins = document["paths"]["/api/plugins"]["get"]["responses"]
    assert {"401", "403"} <= set(plugins)


async def test_docs_page(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "openapi.json" in response.text


@pytest.mark.parametrize("value", ["a\x00b", ["ok", "a\x00"], {"k": {"deep": ["a\x00"]}}, {"a\x00": 1}])
def test_request_body_refuses_nul_at_any_depth(value):
    from typing import Any

    import pydantic

    class Body(RequestBody):
        data: Any

    with pytest.raises(pydantic.ValidationError, match="NUL"):
        Body.model_validate({"data": value})
    assert Body.model_validate({"data": {"k": ["fine"]}}).data == {"k": ["fine"]}
