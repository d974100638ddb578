"""The OpenAPI document lists every auth route of the contract, with its error responses in the
envelope's schema."""

from __future__ import annotations

import json

from commonly_kernel.testing import check_documented_errors

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


async def test_every_auth_route_is_documented(openapi_document):
    documented = {(method, path) for path, operations in openapi_document["paths"].items() for method in operations
                  if path.startswith(("/api/auth", "/api/admin/users"))}
    assert documented == set(ROUTES)


async def test_error_responses_use_the_envelope(openapi_document):
    for (method, path), required in ROUTES.items():
        operation = check_documented_errors(openapi_document, method, path, required)
        assert operation["operationId"].startswith("auth_")


async def test_error_schema_and_user_schemas(openapi_document):
    error = openapi_document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message", "requestId"}
    private = openapi_document["components"]["schemas"]["PrivateUser"]
    assert "email" in private["properties"] and "_id" in private["properties"]
    text = json.dumps(openapi_document)
    assert "passwordHash" not in text and "password_hash" not in text
    operation_ids = [operation["operationId"] for operations in openapi_document["paths"].values()
                     for operation in operations.values()]
    assert len(operation_ids) == len(set(operation_ids))
