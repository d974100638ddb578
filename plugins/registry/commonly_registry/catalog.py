"""Registry agents: built-in (plugins' ``commonly_register_agents``), the catalog file
(``COMMONLY_AGENT_CATALOG``), published community entries and templates, as one list."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from commonly_kernel import (
    Actor,
    Conflict,
    Forbidden,
    Kernel,
    NotFound,
    StartupError,
    ValidationFailed,
    lock_until_commit,
)

from .config import config_for
from .models import PublishedAgent, Template

#: A registry name; at most 120 characters in all (the name columns' size).
NAME = re.compile(r"^(?=.{1,120}$)(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]{0,99}$")
VERSION_LIMIT = 60  # the version columns' size


@dataclass
class Catalog:
    """The entries that do not live in the database, built once per app at startup."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)


def entry(raw: dict[str, Any], registry: str) -> dict[str, Any]:
    """A registry entry in the wire shape, defaults filled in."""
    manifest = dict(raw.get("manifest") or {})
    manifest.setdefault("capabilities", [])
    manifest.setdefault("requiredScopes", [])
    manifest.setdefault("context", {"required": [], "optional": []})
    return {
        "name": raw["name"], "displayName": raw.get("displayName") or raw["name"],
        "description": raw.get("description", ""), "version": str(raw.get("version", "0.0.0")),
        "manifest": manifest, "categories": list(raw.get("categories") or []), "tags": list(raw.get("tags") or []),
        "iconUrl": raw.get("iconUrl", ""), "verified": bool(raw.get("verified", registry == "official")),
        "registry": registry, "status": raw.get("status", "active"),
    }


def load(kernel: Kernel) -> Catalog:
    """Plugins' entries, then the catalog file's; a malformed file or a name claimed twice stops startup."""
    catalog = Catalog()
    for batch in kernel.pm.hook.commonly_register_agents(settings=kernel.settings):
        for raw in batch or []:
            _add(catalog, raw, "official")
    path = config_for(kernel.settings).agent_catalog
    if path is not None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise StartupError(f"COMMONLY_AGENT_CATALOG: cannot read {path}: {error}") from None
        for raw in data.get("agents", []) if isinstance(data, dict) else data:
            _add(catalog, raw, raw.get("registry", "official") if isinstance(raw, dict) else "official")
    return catalog


def _add(catalog: Catalog, raw: Any, registry: str) -> None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not NAME.match(raw["name"]):
        raise StartupError(f"registry entry {raw!r} has no valid name")
    if raw["name"] in catalog.entries:
        raise StartupError(f"registry entry {raw['name']!r} is listed twice")
    catalog.entries[raw["name"]] = entry(raw, registry)


async def all_entries(catalog: Catalog, actor: Actor) -> dict[str, dict[str, Any]]:
    """Every entry ``actor`` may see, by name: built-in and catalog first, then published, templates."""
    found = dict(catalog.entries)
    for published in await PublishedAgent.filter(status__not="unpublished"):
        found.setdefault(published.name, published_entry(published))
    for template in await Template.filter(Q(visibility="public") | Q(owner_id=actor.id)):
        found.setdefault(template.agent_name, template_entry(template))
    return found


async def find(catalog: Catalog, name: str, actor: Actor) -> dict[str, Any]:
    if name in catalog.entries:
        return catalog.entries[name]
    if not NAME.match(name):  # no entry can have it (and the columns could not hold it)
        raise NotFound(f"No agent named {name!r} in the registry.", code="agent_not_found")
    published = await PublishedAgent.get_or_none(name=name)
    if published is not None and published.status != "unpublished":
        return published_entry(published)
    template = await Template.get_or_none(agent_name=name)
    if template is not None and (template.visibility == "public" or str(template.owner_id) == actor.id):
        return template_entry(template)
    raise NotFound(f"No agent named {name!r} in the registry.", code="agent_not_found")


async def icons(names: set[str]) -> dict[str, str]:
    """Template icons by agent name (they win over the registry's icon)."""
    return {template.agent_name: template.icon_url
            for template in await Template.filter(agent_name__in=names) if template.icon_url}


def published_entry(published: PublishedAgent) -> dict[str, Any]:
    raw = {"name": published.name, "displayName": published.display_name, "description": published.description,
           "version": published.version, "manifest": published.manifest, "categories": published.categories,
           "tags": published.tags, "iconUrl": published.icon_url, "verified": False, "status": published.status}
    return entry(raw, "community")


def template_entry(template: Template) -> dict[str, Any]:
    raw = {"name": template.agent_name, "displayName": template.display_name, "description": template.description,
           "iconUrl": template.icon_url, "verified": False}
    return entry(raw, "private")


def search(entries: dict[str, dict[str, Any]], q: str | None, category: str | None) -> list[dict[str, Any]]:
    found = sorted(entries.values(), key=lambda item: item["name"])
    if q:
        needle = q.lower()
        found = [item for item in found if needle in item["name"].lower()
                 or needle in item["displayName"].lower() or needle in item["description"].lower()]
    if category:
        found = [item for item in found if category.lower() in (c.lower() for c in item["categories"])]
    return found


async def publish(catalog: Catalog, actor: Actor, manifest: dict[str, Any], *, display_name: str | None,
                  readme: str | None, categories: list[str], tags: list[str]) -> PublishedAgent:
    """Create the caller's community entry, or add a version to it (the same version replaces it)."""
    name, version = _check_manifest(manifest)
    if name in catalog.entries:
        raise Conflict(f"The name {name!r} belongs to a built-in, catalog or template entry.", code="name_taken")
    try:
        async with in_transaction() as transaction:
            # Concurrent publishes of one name read and merge ``versions`` one at a time.
            await lock_until_commit(transaction, name_lock(name))
            return await _publish_locked(actor, manifest, name, version, display_name=display_name, readme=readme,
                                         categories=categories, tags=tags)
    except IntegrityError:  # a writer that skipped the lock: never a 500
        raise Conflict(f"The name {name!r} was taken meanwhile; try again.", code="name_taken") from None


def name_lock(name: str) -> str:
    """The lock every writer of a registry name holds: names span the published and template tables,
    so their unique constraints alone cannot keep one name in one table."""
    return f"registry.agent-name:{name}"


async def _publish_locked(actor: Actor, manifest: dict[str, Any], name: str, version: str, *,
                          display_name: str | None, readme: str | None, categories: list[str],
                          tags: list[str]) -> PublishedAgent:
    if await Template.exists(agent_name=name):
        raise Conflict(f"The name {name!r} belongs to a built-in, catalog or template entry.", code="name_taken")
    existing = await PublishedAgent.get_or_none(name=name)
    if existing is not None and str(existing.owner_id) != actor.id:
        raise Forbidden(f"{name!r} was published by someone else.", code="not_owner")
    fields = {"version": version, "manifest": manifest, "description": str(manifest.get("description") or ""),
              "display_name": display_name or (existing.display_name if existing else name),
              "readme": readme if readme is not None else (existing.readme if existing else ""),
              "categories": categories or (existing.categories if existing else []),
              "tags": tags or (existing.tags if existing else []), "status": "active"}
    if existing is None:
        return await PublishedAgent.create(name=name, owner_id=actor.id, versions={version: manifest}, **fields)
    existing.versions = {**existing.versions, version: manifest}
    for key, value in fields.items():
        setattr(existing, key, value)
    await existing.save()
    return existing


def _check_manifest(manifest: dict[str, Any]) -> tuple[str, str]:
    problems = []
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not NAME.match(name):
        problems.append({"field": "manifest.name", "message": "a lower-case registry slug is required",
                         "type": "invalid"})
    if not isinstance(version, str) or not version.strip() or len(version) > VERSION_LIMIT:
        problems.append({"field": "manifest.version", "message": f"a version string (at most {VERSION_LIMIT} "
                         "characters) is required", "type": "invalid"})
    for key in ("capabilities", "requiredScopes"):
        if key in manifest and not (isinstance(manifest[key], list)
                                    and all(isinstance(item, str) for item in manifest[key])):
            problems.append({"field": f"manifest.{key}", "message": "must be a list of strings", "type": "invalid"})
    if "description" in manifest and not isinstance(manifest["description"], str):
        problems.append({"field": "manifest.description", "message": "must be a string", "type": "invalid"})
    if "context" in manifest and not isinstance(manifest["context"], dict):
        problems.append({"field": "manifest.context", "message": "must be an object", "type": "invalid"})
    if problems:
        raise ValidationFailed("The manifest is invalid.", code="invalid_manifest", details=problems)
    return name, version  # type: ignore[return-value]


async def create_template(catalog: Catalog, actor: Actor, *, agent_name: str, display_name: str,
                          description: str, icon_url: str, visibility: str) -> Template:
    if not NAME.match(agent_name):
        raise ValidationFailed("agentName must be a lower-case registry slug.", code="validation_error",
                               details=[{"field": "agentName", "message": "not a registry slug", "type": "invalid"}])
    taken = Conflict(f"The name {agent_name!r} is taken.", code="name_taken")
    if agent_name in catalog.entries:
        raise taken
    try:
        async with in_transaction() as transaction:
            await lock_until_commit(transaction, name_lock(agent_name))  # as publishing does
            if await Template.exists(agent_name=agent_name) or await PublishedAgent.exists(name=agent_name):
                raise taken
            return await Template.create(agent_name=agent_name, display_name=display_name or agent_name,
                                         description=description, icon_url=icon_url, visibility=visibility,
                                         owner_id=actor.id)
    except IntegrityError:
        raise taken from None


async def templates_for(actor: Actor) -> list[Template]:
    return await Template.filter(Q(visibility="public") | Q(owner_id=actor.id)).order_by("agent_name")
