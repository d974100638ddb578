"""The OpenAPI document lists every pods route, with its error responses in the envelope's schema."""

from __future__ import annotations

from commonly_kernel.testing import check_documented_errors

BODY = {400, 401, 403, 404, 413}  # a route with a JSON body in a pod
READ = {400, 401, 403, 404}  # a route with query parameters in a pod

#: (method, path) → the error statuses it must document (it may document more).
ROUTES = {
    ("get", "/api/pods"): {400, 401, 403},
    ("post", "/api/pods"): {400, 401, 403, 413},
    ("get", "/api/pods/{pod_id}"): {401, 403, 404},
    ("put", "/api/pods/{pod_id}"): BODY,
    ("delete", "/api/pods/{pod_id}"): {401, 403, 404},
    ("post", "/api/pods/{pod_id}/join"): {401, 403, 404},
    ("post", "/api/pods/{pod_id}/leave"): {400, 401, 403, 404},
    ("delete", "/api/pods/{pod_id}/members/{member_id}"): {400, 401, 403, 404},
    ("get", "/api/pods/{pod_id}/messages"): READ,
    ("post", "/api/pods/{pod_id}/messages"): BODY | {409, 422},
    ("delete", "/api/pods/{pod_id}/messages/{message_id}"): {401, 403, 404},
    ("get", "/api/messages/{pod_id}"): READ,
    ("post", "/api/messages/{pod_id}"): BODY | {409, 422},
    ("get", "/api/pods/{pod_id}/context"): READ,
    ("get", "/api/pods/{pod_id}/context/search"): READ,
    ("get", "/api/pods/{pod_id}/context/assets/{asset_id}"): READ,
    ("post", "/api/v1/memory/{pod_id}"): BODY,
    ("get", "/api/pods/{pod_id}/assets"): READ,
    ("post", "/api/pods/{pod_id}/assets"): BODY,
    ("get", "/api/pods/{pod_id}/assets/{asset_id}"): {401, 403, 404},
    ("patch", "/api/pods/{pod_id}/assets/{asset_id}"): BODY,
    ("delete", "/api/pods/{pod_id}/assets/{asset_id}"): {401, 403, 404},
}


async def test_every_pods_route_documents_its_errors_with_the_envelope(openapi_document):
    documented = {(method, path) for path, operations in openapi_document["paths"].items() for method in operations
                  if path.startswith(("/api/pods", "/api/messages", "/api/v1/memory"))}
    assert documented == set(ROUTES)
    operation_ids = []
    for (method, path), required in ROUTES.items():
        operation = check_documented_errors(openapi_document, method, path, required)
        assert operation["operationId"].startswith("pods_") and "pods" in operation["tags"]
        operation_ids.append(operation["operationId"])
    assert len(operation_ids) == len(set(operation_ids))
    error = openapi_document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message", "requestId"}


async def test_success_bodies_are_described(openapi_document):
    schemas = openapi_document["components"]["schemas"]
    created = openapi_document["paths"]["/api/pods/{pod_id}/messages"]["post"]["responses"]
    assert {"200", "201"} <= set(created)
    message = schemas["ChatMessage"]["properties"]
    assert {"id", "_id", "podId", "userId", "content", "author", "username", "isBot", "createdAt"} <= set(message)
    pod = schemas["PodOut"]["properties"]
    assert {"id", "_id", "name", "type", "joinPolicy", "members", "memberCount"} <= set(pod)
    context = openapi_document["paths"]["/api/pods/{pod_id}/context"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"]
    assert {"pod", "task", "summaries", "assets", "tags", "skills", "skillModeUsed", "skillWarnings",
            "stats"} <= set(context)
    listed = openapi_document["paths"]["/api/pods/{pod_id}/messages"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"]["items"] == {"$ref": "#/components/schemas/ChatMessage"}
    parameters = {parameter["name"] for parameter in openapi_document["paths"]["/api/pods/{pod_id}/context"]["get"]
                  ["parameters"]}
    assert {"task", "summaryLimit", "assetLimit", "tagLimit", "skillLimit", "skillMode",
            "skillRefreshHours"} <= parameters
