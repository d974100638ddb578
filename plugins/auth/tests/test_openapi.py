"""The OpenAPI document lists every auth route of the contract, with its error responses in the
envelope's schema."""

from __future__ import annotations

import json

import pytest

ERROR_REF = "#/components/schemas/Error"

#: (method, path) → error statuses the route must document (beyond what it may add).
ROUTES = {
    ("post", "/api/auth/register"): {400, 403, 409, 413, 429},
    ("get", "/api/auth/registration-policy"): set(),
    ("post", "/api/auth/login"): {400, 401, 403, 413, 429},
    ("get", "/api/auth/user"): {401, 403},
    ("post", "/api/auth/forgot"): {400, 413, 429},
    ("post", "/api/auth/forgot-password"): {400, 413, 429},
    ("post", "/api/auth/reset/{token}"): {400, 413},
    ("post", "/api/auth/reset-password"): {400, 413},
    ("get", "/api/auth/verify-email"): {400},
    ("post", "/api/auth/waitlist"): {400, 409, 413, 429},
    ("get", "/api/admin/users"): {400, 401, 403},
    ("patch", "/api/admin/users/{user_id}/role"): {400, 401, 403, 404, 413},
    ("delete", "/api/admin/users/{user_id}"): {400, 401, 403, 404},
    ("patch", "/api/admin/users/{user_id}/ban"): {400, 401, 403, 404, 413},
    ("get", "/api/admin/users/invitations"): {400, 401, 403},
    ("post", "/api/admin/users/invitations"): {400, 401, 403, 409, 413},
    ("post", "/api/admin/users/invitations/{invitation_id}/revoke"): {401, 403, 404},
    ("get", "/api/admin/users/waitlist"): {400, 401, 403},
    ("patch", "/api/admin/users/waitlist/{request_id}"): {400, 401, 403, 404, 413},
    ("post", "/api/admin/users/waitlist/{request_id}/send-invitation"): {400, 401, 403, 404, 413},
}


@pytest.fixture
async def document(client):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_every_auth_route_is_documented(document):
    documented = {(method, path) for path, operations in document["paths"].items() for method in operations
                  if path.startswith(("/api/auth", "/api/admin/users"))}
    assert documented == set(ROUTES)


async def test_error_responses_use_the_envelope(document):
    for (method, path), required in ROUTES.items():
        operation = document["paths"][path][method]
        responses = {int(status): body for status, body in operation["responses"].items()}
        assert required <= set(responses), (method, path, sorted(responses))
        assert any(200 <= status < 300 for status in responses), (method, path)
        for status, body in responses.items():
            if status >= 400:
                assert body["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (method, path, status)
        assert operation["operationId"].startswith("auth_")


async def test_error_schema_and_user_schemas(document):
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message", "requestId"}
    private = document["components"]["schemas"]["PrivateUser"]
    assert "email" in private["properties"] and "_id" in private["properties"]
    text = json.dumps(document)
    assert "passwordHash" not in text and "password_hash" not in text
    operation_ids = [operation["operationId"] for operations in document["paths"].values()
                     for operation in operations.values()]
    assert len(operation_ids) == len(set(operation_ids))
