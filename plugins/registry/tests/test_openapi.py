"""The OpenAPI document lists every registry route (catalog, installations, tokens, admin, gateways,
agent runtime, skills), each with the error responses it may answer in the envelope's schema."""

from __future__ import annotations

from commonly_kernel.testing import check_documented_errors

AUTH = {401, 403}
BODY = {400, 413}  # every route with a JSON body: validation and the body limit

#: (method, path) → (tag, error statuses the route must document).
ROUTES = {
    # catalog
    ("get", "/api/registry/agents"): ("registry", AUTH | {400}),
    ("get", "/api/registry/agents/{name}"): ("registry", AUTH | {404}),
    ("get", "/api/registry/presets"): ("registry", AUTH),
    ("post", "/api/registry/publish"): ("registry", AUTH | BODY | {409}),
    ("get", "/api/registry/templates"): ("registry", AUTH),
    ("post", "/api/registry/templates"): ("registry", AUTH | BODY | {409}),
    # installations
    ("post", "/api/registry/install"): ("registry", AUTH | BODY | {404, 409}),
    ("get", "/api/registry/pods/{pod_id}/agents"): ("registry", AUTH | {404}),
    ("get", "/api/registry/pods/{pod_id}/agents/{name}"): ("registry", AUTH | {400, 404}),
    ("patch", "/api/registry/pods/{pod_id}/agents/{name}"): ("registry", AUTH | BODY | {404}),
    ("delete", "/api/registry/agents/{name}/pods/{pod_id}"): ("registry", AUTH | {400, 404}),
    # tokens
    ("post", "/api/registry/pods/{pod_id}/agents/{name}/runtime-tokens"): ("registry", AUTH | BODY | {404}),
    ("get", "/api/registry/pods/{pod_id}/agents/{name}/runtime-tokens"): ("registry", AUTH | {400, 404}),
    ("delete", "/api/registry/pods/{pod_id}/agents/{name}/runtime-tokens/{token_id}"): ("registry",
                                                                                         AUTH | {400, 404}),
    ("get", "/api/registry/pods/{pod_id}/agents/{name}/user-token"): ("registry", AUTH | {400, 404}),
    ("post", "/api/registry/pods/{pod_id}/agents/{name}/user-token"): ("registry", AUTH | BODY | {404}),
    ("delete", "/api/registry/pods/{pod_id}/agents/{name}/user-token"): ("registry", AUTH | {400, 404}),
    # admin and gateways
    ("get", "/api/registry/admin/installations"): ("registry", AUTH | {400}),
    ("delete", "/api/registry/admin/installations/{installation_id}"): ("registry", AUTH | {404}),
    ("delete", "/api/registry/admin/installations/{installation_id}/runtime-tokens/{token_id}"): ("registry",
                                                                                                   AUTH | {404}),
    ("get", "/api/gateways"): ("registry", AUTH),
    ("post", "/api/gateways"): ("registry", AUTH | BODY | {409}),
    ("get", "/api/gateways/{gateway_id}"): ("registry", AUTH | {404}),
    ("patch", "/api/gateways/{gateway_id}"): ("registry", AUTH | BODY | {404}),
    ("delete", "/api/gateways/{gateway_id}"): ("registry", AUTH | {400, 404}),
    # agent runtime
    ("get", "/api/agents/runtime/events"): ("agent runtime", AUTH | {400}),
    ("get", "/api/agents/runtime/bot/events"): ("agent runtime", AUTH | {400}),
    ("post", "/api/agents/runtime/events/{event_id}/ack"): ("agent runtime", AUTH | BODY | {404}),
    ("post", "/api/agents/runtime/bot/events/{event_id}/ack"): ("agent runtime", AUTH | BODY | {404}),
    ("post", "/api/agents/runtime/events/ack"): ("agent runtime", AUTH | BODY),
    ("post", "/api/agents/runtime/bot/events/ack"): ("agent runtime", AUTH | BODY),
    ("get", "/api/agents/runtime/installations"): ("agent runtime", AUTH),
    ("post", "/api/agents/runtime/dm"): ("agent runtime", AUTH | BODY | {404}),
    ("get", "/api/agents/runtime/pods/{pod_id}/context"): ("agent runtime", AUTH | {404}),
    ("get", "/api/agents/runtime/bot/pods/{pod_id}/context"): ("agent runtime", AUTH | {404}),
    ("get", "/api/agents/runtime/pods/{pod_id}/messages"): ("agent runtime", AUTH | {400, 404}),
    ("get", "/api/agents/runtime/bot/pods/{pod_id}/messages"): ("agent runtime", AUTH | {400, 404}),
    ("post", "/api/agents/runtime/pods/{pod_id}/messages"): ("agent runtime", AUTH | BODY | {404}),
    ("post", "/api/agents/runtime/bot/pods/{pod_id}/messages"): ("agent runtime", AUTH | BODY | {404}),
    ("post", "/api/agents/runtime/threads/{thread_id}/comments"): ("agent runtime", AUTH | BODY | {404}),
    ("post", "/api/agents/runtime/bot/threads/{thread_id}/comments"): ("agent runtime", AUTH | BODY | {404}),
    ("post", "/api/dev/agents/events"): ("agent runtime", AUTH | BODY | {404}),
    # skills
    ("get", "/api/skills/catalog"): ("skills", AUTH | {400}),
    ("post", "/api/skills/import"): ("skills", AUTH | BODY | {404}),
    ("delete", "/api/skills/pods/{pod_id}/imported"): ("skills", AUTH | {400, 404}),
    ("get", "/api/skills/requirements"): ("skills", AUTH | {400, 422}),
}
PREFIXES = {"registry": "registry_", "agent runtime": "agent_runtime_", "skills": "skills_"}


async def test_every_registry_route_is_documented(openapi_document):
    documented = {(method, path) for path, operations in openapi_document["paths"].items() for method, operation in
                  operations.items() if set(operation.get("tags", [])) & set(PREFIXES)}
    assert documented == set(ROUTES)


async def test_error_responses_use_the_envelope(openapi_document):
    for (method, path), (tag, required) in ROUTES.items():
        operation = check_documented_errors(openapi_document, method, path, required)
        assert operation["tags"] == [tag], (method, path)
        assert operation["operationId"].startswith(PREFIXES[tag]), (method, path)


async def test_the_envelope_schema(openapi_document):
    error = openapi_document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message", "requestId"}
    assert "details" in error["properties"]
    operation_ids = [operation["operationId"] for operations in openapi_document["paths"].values()
                     for operation in operations.values()]
    assert len(operation_ids) == len(set(operation_ids))
