"""Bad input of any shape never gives a 500: property tests over arbitrary JSON values and bytes
against every auth route on one live server, plus hand-picked malformed requests."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIELD_NAMES = ["username", "email", "password", "invitationCode", "token", "name", "organization", "useCase",
               "note", "role", "banned", "reason", "code", "maxUses", "expiresAt", "invitationId", "status"]
SOME_ID = "00000000-0000-4000-8000-000000000000"

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
#: Objects whose keys are mostly the routes' own field names, so validation gets past "unknown field".
field_objects = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8),
                                json_values | st.sampled_from(["a@example.com", "correct horse", "admin", SOME_ID,
                                                               "2031-01-01T00:00:00Z", "CODE-1234", "pending"]),
                                max_size=6)
bodies = json_values | field_objects
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def commonly_settings():
    return {"COMMONLY_RATE_LIMITS": "0"}


@pytest.fixture
async def targets(make_user, client):
    """Every auth route with a body, as (method, url, headers)."""
    admin = await make_user(username="root", role="admin")
    victim = await make_user(username="victim")
    invitation = (await client.post("/api/admin/users/invitations", json={"code": "TARGET"},
                                    headers=admin.headers)).json()["invitation"]
    request_id = (await client.post("/api/auth/waitlist", json={"email": "wait@example.com"})).json()["requestId"]
    public: dict[str, str] = {}
    return [
        ("POST", "/api/auth/register", public),
        ("POST", "/api/auth/login", public),
        ("POST", "/api/auth/forgot", public),
        ("POST", "/api/auth/forgot-password", public),
        ("POST", "/api/auth/reset/some-token", public),
        ("POST", "/api/auth/reset-password", public),
        ("POST", "/api/auth/waitlist", public),
        ("PATCH", f"/api/admin/users/{victim.id}/role", admin.headers),
        ("PATCH", f"/api/admin/users/{victim.id}/ban", admin.headers),
        ("POST", "/api/admin/users/invitations", admin.headers),
        ("POST", f"/api/admin/users/invitations/{invitation['id']}/revoke", admin.headers),
        ("PATCH", f"/api/admin/users/waitlist/{request_id}", admin.headers),
        ("POST", f"/api/admin/users/waitlist/{request_id}/send-invitation", admin.headers),
        # routes without a body still must not choke on one
        ("GET", "/api/auth/user", admin.headers),
        ("GET", "/api/auth/registration-policy", public),
    ], admin


@pytest.fixture
def check_answer(assert_error, assert_no_secrets):
    """No 5xx; errors in the envelope; successes in JSON; never a password hash."""

    def check(response: httpx.Response) -> None:
        assert response.status_code < 500, (response.request.method, response.request.url, response.text)
        assert_no_secrets(response)
        if response.status_code >= 400:
            assert_error(response, response.status_code)
        elif 300 <= response.status_code < 400:
            # werkzeug merges doubled slashes (a path token "/x") with a 308 to the merged path
            assert response.status_code == 308 and response.headers["Location"]
        else:
            response.json()

    return check


@PROPERTY_SETTINGS
@given(data=st.data())
async def test_arbitrary_json_never_breaks_a_route(client, targets, check_answer, data):
    routes, _ = targets
    body = data.draw(bodies, label="body")
    encoded = json.dumps(body).encode()
    for method, url, headers in routes:
        response = await client.request(method, url, content=encoded,
                                        headers={**headers, "Content-Type": "application/json"})
        check_answer(response)


@PROPERTY_SETTINGS
@given(data=st.data())
async def test_arbitrary_bytes_never_break_a_route(client, targets, check_answer, data):
    routes, _ = targets
    payload = data.draw(st.binary(max_size=300) | st.text(max_size=100).map(str.encode), label="bytes")
    content_type = data.draw(st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                              "application/x-www-form-urlencoded"]), label="content type")
    for method, url, headers in routes:
        response = await client.request(method, url, content=payload, headers={**headers, "Content-Type": content_type})
        check_answer(response)


@PROPERTY_SETTINGS
@given(data=st.data())
async def test_arbitrary_path_tokens_and_query_strings(client, targets, check_answer, data):
    _, admin = targets
    token = data.draw(st.text(min_size=1, max_size=60), label="path token")
    query = data.draw(st.dictionaries(st.sampled_from(["token", "q", "role", "limit", "before", "page", "status", "x"]),
                                      st.text(max_size=30), max_size=4), label="query")
    check_answer(await client.post(f"/api/auth/reset/{quote(token, safe='')}", json={"password": "long enough"}))
    check_answer(await client.get("/api/auth/verify-email", params=query))
    check_answer(await client.get(f"/api/admin/users/{quote(token, safe='')}", headers=admin.headers))
    for path in ("/api/admin/users", "/api/admin/users/invitations", "/api/admin/users/waitlist"):
        check_answer(await client.get(path, params=query, headers=admin.headers))


# -- hand-picked ---------------------------------------------------------------------------------


async def test_malformed_json_is_400(client, assert_error):
    for raw in (b"{", b"{'email': 1}", b'{"email": }', b"nul", b'{"a":1}{"b":2}'):
        response = await client.post("/api/auth/login", content=raw, headers={"Content-Type": "application/json"})
        assert_error(response, 400)


async def test_body_that_is_not_utf8_is_400(client, assert_error):
    raw = b'{"email": "\xff\xfe", "password": "correct horse"}'
    assert_error(await client.post("/api/auth/login", content=raw, headers={"Content-Type": "application/json"}), 400)


async def test_non_object_bodies_are_400(client, assert_error):
    for body in ([], [1, 2], "text", 42, None, True):
        assert_error(await client.post("/api/auth/register", json=body), 400)


async def test_body_over_one_mebibyte_is_413(client, assert_error):
    big = {"email": "a@example.com", "password": "x" * (1024 * 1024 + 10)}
    assert_error(await client.post("/api/auth/login", json=big), 413, "payload_too_large")


async def test_huge_numbers_are_refused_cleanly(client, make_user, assert_error):
    admin = await make_user(role="admin")
    huge = b'{"maxUses": 1' + b"0" * 5000 + b"}"  # beyond Python's int-parsing digit limit
    response = await client.post("/api/admin/users/invitations", content=huge,
                                 headers={**admin.headers, "Content-Type": "application/json"})
    assert_error(response, 400)
    response = await client.post("/api/admin/users/invitations", json={"maxUses": 2**64 + 1}, headers=admin.headers)
    assert_error(response, 400, "validation_error")


async def test_deeply_nested_json_is_refused_cleanly(client, assert_error):
    deep = b"[" * 100_000 + b"]" * 100_000  # 200 kB, well under the body limit
    response = await client.post("/api/auth/login", content=deep, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert_error(response, 400)


async def test_empty_body_with_json_content_type_on_get_is_fine(client, make_user):
    user = await make_user()
    headers = {**user.headers, "Content-Type": "application/json"}
    assert (await client.get("/api/auth/user", headers=headers)).status_code == 200
    assert (await client.get("/api/auth/registration-policy", headers={"Content-Type": "application/json"})
            ).status_code == 200


async def test_wrong_method_is_405(client, assert_error):
    assert_error(await client.get("/api/auth/login"), 405, "method_not_allowed")
    assert_error(await client.delete("/api/auth/register"), 405)
    assert_error(await client.post("/api/auth/user", json={}), 405)


async def test_request_id_is_echoed_in_header_and_envelope(client, assert_error):
    response = await client.post("/api/auth/login", json={}, headers={"X-Request-Id": "trace-123"})
    body = assert_error(response, 400)
    assert response.headers["X-Request-Id"] == body["requestId"] == "trace-123"
    ok = await client.get("/api/auth/registration-policy", headers={"X-Request-Id": "trace-456"})
    assert ok.headers["X-Request-Id"] == "trace-456"


async def test_validation_details_never_echo_the_password(client, assert_error):
    secret = "hunter2"  # too short, so refused
    response = await client.post("/api/auth/register", json={"username": "x", "email": "bad", "password": secret})
    body = assert_error(response, 400, "validation_error")
    assert {item["field"] for item in body["details"]} == {"username", "email", "password"}
    assert secret not in response.text


async def test_nul_characters_are_refused_not_a_database_error(client, make_user, assert_error):
    """PostgreSQL text cannot store U+0000; every field and query parameter refuses it with 400."""
    admin = await make_user(role="admin")
    nobody = "00000000-0000-4000-8000-000000000000"
    requests = [
        ("POST", "/api/auth/login", {"email": "a\x00b", "password": "long enough"}, None),
        ("POST", "/api/auth/login", {"email": "a\x00@b.com", "password": "long enough"}, None),
        ("POST", "/api/auth/register", {"username": "ab", "email": "a@b.com", "password": "long enough",
                                        "invitationCode": "A\x00"}, None),
        ("POST", "/api/auth/waitlist", {"email": "a@b.com", "name": "x\x00y"}, None),
        ("POST", "/api/auth/reset-password", {"token": "t\x00", "password": "long enough"}, None),
        ("POST", "/api/admin/users/invitations", {"note": "x\x00y"}, admin.headers),
        ("PATCH", f"/api/admin/users/{nobody}/ban", {"banned": True, "reason": "x\x00"}, admin.headers),
        ("POST", f"/api/admin/users/waitlist/{nobody}/send-invitation", {"code": "AB\x00CD"}, admin.headers),
    ]
    for method, url, body, headers in requests:
        response = await client.request(method, url, json=body, headers=headers or {})
        assert response.status_code == 400, (url, body, response.text)
        assert_error(response, 400, "validation_error")
    for path in ("/api/admin/users", "/api/admin/users/waitlist"):
        assert_error(await client.get(path, params={"q": "a\x00"}, headers=admin.headers), 400, "validation_error")
    assert_error(await client.get("/api/auth/verify-email", params={"token": "a\x00"}), 400, "validation_error")


async def test_wrongly_typed_fields_are_not_coerced(client, make_user, assert_error):
    admin = await make_user(role="admin")
    victim = await make_user()
    for body in ({"maxUses": "5"}, {"maxUses": True}, {"maxUses": 2.5}, {"note": 7}):
        response = await client.post("/api/admin/users/invitations", json=body, headers=admin.headers)
        assert_error(response, 400, "validation_error")
    response = await client.patch(f"/api/admin/users/{victim.id}/ban", json={"banned": 1}, headers=admin.headers)
    assert_error(response, 400, "validation_error")
    assert (await client.get("/api/admin/users/invitations", headers=admin.headers)).json()["total"] == 0
    dated = {"maxUses": 2, "expiresAt": "2099-01-01T00:00:00Z"}
    assert (await client.post("/api/admin/users/invitations", json=dated, headers=admin.headers)).status_code == 201
