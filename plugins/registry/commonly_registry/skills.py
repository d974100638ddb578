"""Pod-imported agent skills: a local catalog, import (upsert by name and scope), uninstall
(archive), and the credentials a skill's source mentions."""

from __future__ import annotations

import json
import re
from typing import Any

import commonly_pods
import httpx
from quart import Blueprint
from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from commonly_kernel import (
    Forbidden,
    HTTPError,
    NotFound,
    ValidationFailed,
    current_actor,
    document_errors,
    kernel,
    require_actor,
)

from . import installs
from .config import config_for
from .schemas import Loose, RequirementsQuery, SkillCatalogQuery, SkillImportIn, SkillRemoveQuery
from .urls import check_url

blueprint = Blueprint("skills", __name__)
tag_blueprint(blueprint, ["skills"])

SOURCE = "imported-skill"
MAX_SOURCE_BYTES = 1024 * 1024
FETCH_TIMEOUT = 10.0
#: Environment-variable-like names that read as credentials (OPENAI_API_KEY, GITHUB_TOKEN...).
CREDENTIAL = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_(?:API_KEY|KEY|TOKEN|SECRET|PASSWORD|PAT)\b")


class SourceUnreachable(HTTPError):
    status, code, default_message = 422, "source_unreachable", "The skill's source could not be fetched."


@blueprint.get("/api/skills/catalog")
@require_actor()
@validate_querystring(SkillCatalogQuery)
@validate_response(Loose)
async def skill_catalog(query_args: SkillCatalogQuery) -> dict[str, Any]:
    """Skills from the local catalog file (``COMMONLY_SKILLS_CATALOG``); ``q`` matches name,
    description and tags."""
    data = _catalog_file()
    items = [item for item in data.get("items", []) if isinstance(item, dict)]
    if query_args.q:
        needle = query_args.q.lower()
        items = [item for item in items if needle in json.dumps(
            [item.get("name"), item.get("description"), item.get("tags")]).lower()]
    return {"source": data.get("source", query_args.source or "local"), "updatedAt": data.get("updatedAt"),
            "items": items[: query_args.limit]}


def _catalog_file() -> dict[str, Any]:
    path = config_for(kernel().settings).skills_catalog
    if path is None or not path.exists():
        return {"items": []}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"items": []}
    return data if isinstance(data, dict) else {"items": data}


@blueprint.post("/api/skills/import")
@require_actor()
@document_errors(404)
@validate_request(SkillImportIn)
@validate_response(Loose, 201)
async def import_skill(data: SkillImportIn) -> tuple[dict[str, Any], int]:
    """Import a skill into a pod (members), upserted by name (and agent instance for ``agent`` scope)."""
    granted = await _member(data.pod_id)
    match = {"type": "skill", "source_type": SOURCE, "title": data.name[:300], "scope": data.scope,
             "agent_key": await _agent_key(granted.pod.id, data.scope, data.agent_name, data.instance_id)}
    metadata = {"scope": data.scope, "skillName": data.name, "description": data.description,
                "sourceUrl": data.source_url, "license": data.license}
    if match["agent_key"]:
        agent_name, _, instance_id = match["agent_key"].partition(":")
        metadata.update(agentName=agent_name, instanceId=instance_id)
    asset = await commonly_pods.put_asset(kernel(), granted.pod, match=match, fields={
        "content": data.content, "tags": data.tags, "metadata": metadata, "source_ref": data.source_url or "",
        "created_by_type": "agent" if current_actor().kind == "agent" else "human",
        "created_by_id": current_actor().id,
    })
    return {"assetId": str(asset.id), "podId": str(granted.pod.id), "name": data.name, "scope": data.scope}, 201


@blueprint.delete("/api/skills/pods/<pod_id>/imported")
@require_actor()
@document_errors(404)
@validate_querystring(SkillRemoveQuery)
@validate_response(Loose)
async def remove_skill(pod_id: str, query_args: SkillRemoveQuery) -> dict[str, Any]:
    """Uninstall an imported skill (it is archived, not deleted)."""
    granted = await _member(pod_id)
    agent_key = await _agent_key(granted.pod.id, query_args.scope, query_args.agent_name, query_args.instance_id)
    asset = await commonly_pods.PodAsset.filter(
        pod_id=granted.pod.id, type="skill", source_type=SOURCE, title=query_args.name[:300],
        scope=query_args.scope, agent_key=agent_key, status="active").first()
    if asset is None:
        raise NotFound("No such imported skill in this pod.", code="skill_not_found")
    await commonly_pods.archive_asset(kernel(), granted.pod, asset)
    return {"success": True, "assetId": str(asset.id)}


@blueprint.get("/api/skills/requirements")
@require_actor()
@document_errors(422)
@validate_querystring(RequirementsQuery)
@validate_response(Loose)
async def skill_requirements(query_args: RequirementsQuery) -> dict[str, Any]:
    """The credentials a skill's text mentions (``OPENAI_API_KEY``, ``GITHUB_TOKEN``...)."""
    text = await _fetch(query_args.source_url)
    names = sorted(set(CREDENTIAL.findall(text)))
    requirements = [{"name": name, "type": "env", "present": bool(kernel().settings.get(name))} for name in names]
    return {"requirements": requirements, "detectedCount": len(requirements)}


async def _fetch(url: str) -> str:
    """The source's text: https only (http too when private addresses are allowed, for local
    setups), at most 1 MiB, 10 seconds."""
    allow_private = config_for(kernel().settings).allow_private_urls
    try:
        await check_url(url, allow_private=allow_private, https_only=not allow_private)
    except HTTPError as refusal:
        raise SourceUnreachable(refusal.message) from None
    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as http, \
                http.stream("GET", url) as response:
            if not response.is_success:
                raise SourceUnreachable(f"The source answered {response.status_code}.")
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_SOURCE_BYTES:
                    raise SourceUnreachable("The source is larger than 1 MiB.")
    except httpx.HTTPError as error:
        raise SourceUnreachable(f"The source could not be fetched ({type(error).__name__}).") from None
    return body.decode("utf-8", errors="replace")


async def _member(pod_id: str) -> commonly_pods.PodAccess:
    granted = await commonly_pods.access(pod_id, current_actor(), "read")
    if not granted.is_member:
        raise Forbidden("Only members of this pod may manage its skills.", code="not_a_member")
    return granted


async def _agent_key(pod_id: object, scope: str, agent_name: str | None, instance_id: str | None) -> str | None:
    """For ``agent`` scope: the installed instance the skill belongs to."""
    if scope == "pod":
        return None
    if not agent_name:
        raise ValidationFailed("Agent-scoped skills name their agent (agentName).",
                               details=[{"field": "agentName", "message": "required for scope agent",
                                         "type": "missing"}])
    installation = await installs.resolve(pod_id, agent_name, instance_id)
    return f"{installation.agent_name}:{installation.instance_id}"
