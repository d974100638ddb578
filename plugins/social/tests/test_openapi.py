"""The OpenAPI document lists every social route of the contract, with its error responses in the
envelope's schema."""

from __future__ import annotations

from commonly_kernel.testing import check_documented_errors

AUTH = {401, 403}

#: (method, path) → error statuses the route must document.
ROUTES = {
    ("get", "/api/posts"): AUTH | {400, 404},
    ("get", "/api/posts/search"): AUTH | {400, 404},
    ("get", "/api/posts/following/threads"): AUTH | {400},
    ("get", "/api/posts/{post_id}"): AUTH | {404},
    ("post", "/api/posts"): AUTH | {400, 404, 413},
    ("put", "/api/posts/{post_id}"): AUTH | {400, 404, 413},
    ("delete", "/api/posts/{post_id}"): AUTH | {404},
    ("post", "/api/posts/{post_id}/like"): AUTH | {404},
    ("post", "/api/posts/{post_id}/comments"): AUTH | {400, 404, 413},
    ("delete", "/api/posts/{post_id}/comments/{comment_id}"): AUTH | {404},
    ("post", "/api/posts/{post_id}/follow"): AUTH | {404},
    ("delete", "/api/posts/{post_id}/follow"): AUTH | {404},
    ("get", "/api/users"): AUTH | {400},
    ("get", "/api/users/{user_id}"): AUTH | {404},
    ("put", "/api/users/{user_id}"): AUTH | {400, 404, 409, 413},
    ("get", "/api/users/{user_id}/posts"): AUTH | {400, 404},
    ("post", "/api/users/{user_id}/follow"): AUTH | {400, 404},
    ("delete", "/api/users/{user_id}/follow"): AUTH | {404},
    ("get", "/api/users/{user_id}/public-activity"): AUTH | {404},
    ("get", "/api/activity/feed"): AUTH | {400},
    ("get", "/api/activity/unread-count"): AUTH | {400},
    ("post", "/api/activity/mark-read"): AUTH | {400, 404, 413},
}


async def test_every_social_route_is_documented(openapi_document):
    documented = {(method, path) for path, operations in openapi_document["paths"].items() for method in operations
                  if path.startswith(("/api/posts", "/api/users", "/api/activity"))}
    assert documented == set(ROUTES)


async def test_error_responses_use_the_envelope(openapi_document):
    for (method, path), required in ROUTES.items():
        operation = check_documented_errors(openapi_document, method, path, required)
        assert operation["operationId"].startswith("social_")
        assert operation["tags"] == ["social"]


async def test_post_schemas(openapi_document):
    schemas = openapi_document["components"]["schemas"]
    post = schemas["PostOut"]["properties"]
    for field in ("_id", "userId", "author", "username", "isBot", "likes", "liked", "commentCount", "source"):
        assert field in post, field
    detail = openapi_document["paths"]["/api/posts/{post_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "comments" in detail["schema"]["properties"] and "comments" not in post
    assert "passwordHash" not in str(openapi_document)
