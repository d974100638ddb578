"""HTTP routes of the registry: catalog, installations, tokens, templates, admin and gateways."""

from __future__ import annotations

from typing import Any

import commonly_pods
from quart import Blueprint
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from commonly_kernel import (
    Forbidden,
    MessageOut,
    NotFound,
    RuleRefused,
    current_actor,
    document_errors,
    kernel,
    require_actor,
)

from . import catalog, installs, service, tokens
from .models import Gateway, Installation
from .schemas import (
    AdminInstallQuery,
    AgentListQuery,
    BotTokenIn,
    GatewayIn,
    GatewayPatch,
    InstallationPatch,
    InstallIn,
    InstanceQuery,
    Loose,
    PublishIn,
    RuntimeTokenIn,
    TemplateIn,
)
from .state import state_of

blueprint = Blueprint("registry", __name__)
tag_blueprint(blueprint, ["registry"])


# -- catalog -----------------------------------------------------------------------------------


@blueprint.get("/api/registry/agents")
@require_actor()
@validate_querystring(AgentListQuery)
@validate_response(Loose)
async def list_agents(query_args: AgentListQuery) -> dict[str, Any]:
    """Registry agents by name: ``q`` matches name, display name and description; ``before`` is the
    last name already seen (``nextCursor``)."""
    entries = await catalog.all_entries(state_of(kernel()).catalog, current_actor())
    found = catalog.search(entries, query_args.q, query_args.category)
    after = [item for item in found if query_args.before is None or item["name"] > query_args.before]
    page = after[: query_args.limit]
    more = len(after) > query_args.limit
    return {"agents": page, "total": len(found), "hasMore": more, "nextCursor": page[-1]["name"] if more else None}


@blueprint.get("/api/registry/agents/<path:name>")
@require_actor()
@document_errors(404)
@validate_response(Loose)
async def get_agent(name: str) -> dict[str, Any]:
    """One registry agent."""
    return await catalog.find(state_of(kernel()).catalog, name, current_actor())


@blueprint.get("/api/registry/presets")
@require_actor()
@validate_response(Loose)
async def list_presets() -> dict[str, Any]:
    """Suggested setups: each built-in or catalog agent with its required scopes and whether the
    settings it names are present on this server."""
    settings = kernel().settings
    presets = []
    for entry in sorted(state_of(kernel()).catalog.entries.values(), key=lambda item: item["name"]):
        required = [str(name) for name in entry["manifest"].get("requiredSettings", [])]
        missing = [name for name in required if not settings.get(name)]
        presets.append({"id": entry["name"], "agentName": entry["name"], "displayName": entry["displayName"],
                        "description": entry["description"], "requiredScopes": entry["manifest"]["requiredScopes"],
                        "requiredSettings": required, "missingSettings": missing, "ready": not missing})
    return {"presets": presets}


@blueprint.post("/api/registry/publish")
@require_actor(kind="user")
@document_errors(403, 409)
@validate_request(PublishIn)
@validate_response(Loose)
async def publish(data: PublishIn) -> dict[str, Any]:
    """Publish a community agent, or a new version of your own."""
    published = await catalog.publish(state_of(kernel()).catalog, current_actor(), data.manifest,
                                      display_name=data.display_name, readme=data.readme,
                                      categories=data.categories, tags=data.tags)
    return {"success": True, "agent": {"name": published.name, "version": published.version,
                                       "status": published.status}}


@blueprint.get("/api/registry/templates")
@require_actor()
@validate_response(Loose)
async def list_templates() -> dict[str, Any]:
    """Public templates and your own private ones."""
    found = await catalog.templates_for(current_actor())
    return {"templates": [_template_out(template) for template in found]}


@blueprint.post("/api/registry/templates")
@require_actor(kind="user")
@document_errors(409)
@validate_request(TemplateIn)
@validate_response(Loose, 201)
async def create_template(data: TemplateIn) -> tuple[dict[str, Any], int]:
    """A private or public agent entry of your own."""
    template = await catalog.create_template(state_of(kernel()).catalog, current_actor(),
                                             agent_name=data.agent_name, display_name=data.display_name,
                                             description=data.description, icon_url=data.icon_url,
                                             visibility=data.visibility)
    return {"template": _template_out(template)}, 201


def _template_out(template: Any) -> dict[str, Any]:
    return {"id": str(template.id), "agentName": template.agent_name, "displayName": template.display_name,
            "description": template.description, "iconUrl": template.icon_url,
            "visibility": template.visibility, "createdBy": str(template.owner_id),
            "createdAt": template.created_at}


# -- installations -----------------------------------------------------------------------------
# Agent names may hold a slash (``@scope/name``): ``<path:name>``. A parameter before it names its
# converter (``<string:pod_id>``), or quart-schema's OpenAPI paths merge the two into ``{name}``.


@blueprint.post("/api/registry/install")
@require_actor(kind="user")
@document_errors(400, 404, 409)
@validate_request(InstallIn)
@validate_response(Loose, 201)
async def install(data: InstallIn) -> tuple[dict[str, Any], int]:
    """Install an agent in a pod (members). Several instances of one agent may live in a pod."""
    installation = await service.install(kernel(), current_actor(), data.agent_name, data.pod_id,
                                         instance_id=data.instance_id, display_name=data.display_name,
                                         version=data.version, config=data.config, scopes=data.scopes)
    return {"installation": (await service.describe(kernel(), [installation], current_actor()))[0]}, 201


@blueprint.get("/api/registry/pods/<pod_id>/agents")
@require_actor()
@document_errors(404)
@validate_response(Loose)
async def pod_agents(pod_id: str) -> dict[str, Any]:
    """The agents installed in a pod (active and paused)."""
    granted = await _pod(pod_id)
    found = await Installation.filter(pod_id=granted.pod.id, status__in=installs.INSTALLED).order_by("created_at")
    return {"agents": await service.describe(kernel(), found, current_actor())}


@blueprint.get("/api/registry/pods/<string:pod_id>/agents/<path:name>")
@require_actor()
@document_errors(400, 404)
@validate_querystring(InstanceQuery)
@validate_response(Loose)
async def pod_agent(pod_id: str, name: str, query_args: InstanceQuery) -> dict[str, Any]:
    """One installation (``instanceId`` picks the instance)."""
    installation = await service.installation_in(pod_id, current_actor(), name, query_args.instance_id)
    return {"installation": (await service.describe(kernel(), [installation], current_actor()))[0]}


@blueprint.patch("/api/registry/pods/<string:pod_id>/agents/<path:name>")
@require_actor(kind="user")
@document_errors(400, 404)
@validate_request(InstallationPatch)
@validate_response(Loose)
async def update_installation(pod_id: str, name: str, data: InstallationPatch) -> dict[str, Any]:
    """Change an installation (installer, pod admin or global admin)."""
    installation = await service.installation_in(pod_id, current_actor(), name, data.instance_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True, exclude={"instance_id"})
    updated = await service.update(kernel(), current_actor(), installation, changes)
    return {"installation": (await service.describe(kernel(), [updated], current_actor()))[0]}


@blueprint.delete("/api/registry/agents/<path:name>/pods/<pod_id>")
@require_actor(kind="user")
@document_errors(400, 404)
@validate_querystring(InstanceQuery)
@validate_response(Loose)
async def uninstall(name: str, pod_id: str, query_args: InstanceQuery) -> dict[str, Any]:
    """Uninstall (pod admin, installer or global admin): the bot user leaves the pod."""
    installation = await service.installation_in(pod_id, current_actor(), name, query_args.instance_id)
    removed = await service.uninstall(kernel(), installation, current_actor())
    return {"success": True, "message": f"{name} was uninstalled.",
            "installation": (await service.describe(kernel(), [removed], current_actor()))[0]}


# -- tokens ------------------------------------------------------------------------------------


@blueprint.post("/api/registry/pods/<string:pod_id>/agents/<path:name>/runtime-tokens")
@require_actor(kind="user")
@document_errors(400, 404)
@validate_request(RuntimeTokenIn)
@validate_response(Loose, 201)
async def issue_runtime_token(pod_id: str, name: str, data: RuntimeTokenIn) -> tuple[dict[str, Any], int]:
    """A new runtime token for the instance (pod members); shown only in this answer."""
    installation = await _member_installation(pod_id, name, data.instance_id)
    record, token = await tokens.issue_runtime_token(kernel(), installation.identity_id, data.label)
    return {"token": token, **tokens.token_out(record)}, 201


@blueprint.get("/api/registry/pods/<string:pod_id>/agents/<path:name>/runtime-tokens")
@require_actor(kind="user")
@document_errors(400, 404)
@validate_querystring(InstanceQuery)
@validate_response(Loose)
async def list_runtime_tokens(pod_id: str, name: str, query_args: InstanceQuery) -> dict[str, Any]:
    """The instance's runtime tokens (metadata only)."""
    installation = await _member_installation(pod_id, name, query_args.instance_id)
    return {"tokens": [tokens.token_out(token) for token in await tokens.runtime_tokens(installation.identity_id)]}


@blueprint.delete("/api/registry/pods/<string:pod_id>/agents/<path:name>/runtime-tokens/<token_id>")
@require_actor(kind="user")
@document_errors(400, 404)
@validate_querystring(InstanceQuery)
@validate_response(MessageOut)
async def revoke_runtime_token(pod_id: str, name: str, token_id: str, query_args: InstanceQuery) -> MessageOut:
    """Revoke a runtime token of the instance."""
    installation = await _member_installation(pod_id, name, query_args.instance_id)
    await tokens.revoke_runtime_token(kernel(), installation.identity_id, token_id)
    return MessageOut(message="Token revoked.")


@blueprint.get("/api/registry/pods/<string:pod_id>/agents/<path:name>/user-token")
@require_actor(kind="user")
@document_errors(400, 404)
@validate_querystring(InstanceQuery)
@validate_response(Loose)
async def get_bot_token(pod_id: str, name: str, query_args: InstanceQuery) -> dict[str, Any]:
    """Whether the instance's bot user has a token (never the token)."""
    installation = await _member_installation(pod_id, name, query_args.instance_id)
    token = await tokens.bot_token(installation.identity_id)
    return {"hasToken": token is not None, "createdAt": token.created_at if token else None,
            "scopes": token.scopes if token else []}


@blueprint.post("/api/registry/pods/<string:pod_id>/agents/<path:name>/user-token")
@require_actor(kind="user")
@document_errors(400, 404)
@validate_request(BotTokenIn)
@validate_response(Loose, 201)
async def issue_bot_token(pod_id: str, name: str, data: BotTokenIn) -> tuple[dict[str, Any], int]:
    """A new bot user token (replacing the previous one); shown only in this answer."""
    installation = await _member_installation(pod_id, name, data.instance_id)
    record, token = await tokens.issue_bot_token(kernel(), installation.identity_id, data.scopes)
    return {"token": token, "scopes": record.scopes, "createdAt": record.created_at}, 201


@blueprint.delete("/api/registry/pods/<string:pod_id>/agents/<path:name>/user-token")
@require_actor(kind="user")
@document_errors(400, 404)
@validate_querystring(InstanceQuery)
@validate_response(MessageOut)
async def revoke_bot_token(pod_id: str, name: str, query_args: InstanceQuery) -> MessageOut:
    """Revoke the bot user token."""
    installation = await _member_installation(pod_id, name, query_args.instance_id)
    if not await tokens.revoke_bot_token(kernel(), installation.identity_id):
        raise NotFound("This instance has no bot user token.", code="token_not_found")
    return MessageOut(message="Token revoked.")


async def _pod(pod_id: str) -> commonly_pods.PodAccess:
    return await commonly_pods.access(pod_id, current_actor(), "read")


async def _member_installation(pod_id: str, name: str, instance_id: str | None) -> Installation:
    granted = await _pod(pod_id)
    if not granted.is_member:
        raise Forbidden("Only members of this pod may manage its agents' tokens.", code="not_a_member")
    return await installs.resolve(granted.pod.id, name, instance_id)


# -- admin -------------------------------------------------------------------------------------


@blueprint.get("/api/registry/admin/installations")
@require_actor(role="admin")
@validate_querystring(AdminInstallQuery)
@validate_response(Loose)
async def admin_installations(query_args: AdminInstallQuery) -> dict[str, Any]:
    """Every installation, newest first."""
    found, more = await installs.admin_page(query_args.q, query_args.status, query_args.limit, query_args.before)
    return {"installations": await service.describe(kernel(), found, current_actor()), "hasMore": more,
            "nextCursor": str(found[-1].id) if more else None}


@blueprint.delete("/api/registry/admin/installations/<installation_id>")
@require_actor(role="admin")
@document_errors(404)
@validate_response(MessageOut)
async def admin_uninstall(installation_id: str) -> MessageOut:
    """Uninstall any installation."""
    installation = await _installation(installation_id)
    await service.uninstall(kernel(), installation, None)
    return MessageOut(message="Installation removed.")


@blueprint.delete("/api/registry/admin/installations/<installation_id>/runtime-tokens/<token_id>")
@require_actor(role="admin")
@document_errors(404)
@validate_response(MessageOut)
async def admin_revoke_token(installation_id: str, token_id: str) -> MessageOut:
    """Revoke a runtime token of an installation's instance."""
    installation = await _installation(installation_id)
    await tokens.revoke_runtime_token(kernel(), installation.identity_id, token_id)
    return MessageOut(message="Token revoked.")


async def _installation(installation_id: str) -> Installation:
    parsed = installs.parse_uuid(installation_id)
    found = await Installation.get_or_none(id=parsed) if parsed else None
    if found is None:
        raise NotFound("No such installation.", code="installation_not_found")
    return found


# -- gateways (global admins) ------------------------------------------------------------------


@blueprint.get("/api/gateways")
@require_actor(role="admin")
@validate_response(Loose)
async def list_gateways() -> dict[str, Any]:
    """Agent runtime gateways."""
    return {"gateways": [service.gateway_out(gateway) for gateway in await Gateway.all().order_by("created_at")]}


@blueprint.post("/api/gateways")
@require_actor(role="admin")
@document_errors(409)
@validate_request(GatewayIn)
@validate_response(Loose, 201)
async def create_gateway(data: GatewayIn) -> tuple[dict[str, Any], int]:
    """Add a gateway (``slug`` defaults to the name's slug)."""
    slug = data.slug or installs.slug(data.name) or "gateway"
    gateway = await service.create_gateway(slug, data.model_dump(exclude={"slug"}))
    return {"gateway": service.gateway_out(gateway)}, 201


@blueprint.get("/api/gateways/<gateway_id>")
@require_actor(role="admin")
@document_errors(404)
@validate_response(Loose)
async def get_gateway(gateway_id: str) -> dict[str, Any]:
    """One gateway."""
    return {"gateway": service.gateway_out(await _gateway(gateway_id))}


@blueprint.patch("/api/gateways/<gateway_id>")
@require_actor(role="admin")
@document_errors(404)
@validate_request(GatewayPatch)
@validate_response(Loose)
async def update_gateway(gateway_id: str, data: GatewayPatch) -> dict[str, Any]:
    """Change a gateway."""
    gateway = await _gateway(gateway_id)
    await gateway.update_from_dict(data.model_dump(exclude_unset=True, exclude_none=True)).save()
    return {"gateway": service.gateway_out(gateway)}


@blueprint.delete("/api/gateways/<gateway_id>")
@require_actor(role="admin")
@document_errors(400, 404)
@validate_response(MessageOut)
async def delete_gateway(gateway_id: str) -> MessageOut:
    """Delete a gateway; the ``default`` one stays."""
    gateway = await _gateway(gateway_id)
    if gateway.slug == service.DEFAULT_GATEWAY:
        raise RuleRefused("The default gateway cannot be deleted.", code="default_gateway")
    await gateway.delete()
    return MessageOut(message="Gateway deleted.")


async def _gateway(gateway_id: str) -> Gateway:
    parsed = installs.parse_uuid(gateway_id)
    found = await Gateway.get_or_none(id=parsed) if parsed else None
    if found is None:
        raise NotFound("No such gateway.", code="gateway_not_found")
    return found


