"""Pod memory (assets): who sees which asset, writes that fire the asset hooks, and a per-process
index of each pod's asset metadata that context requests rank without loading every row.

Scope rules: people see pod-scoped assets; an agent sees pod-scoped assets and, when its token
may read memory, the assets scoped to its own instance (``agent_key``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from commonly_auth import users_by_ids
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from commonly_kernel import Actor, Forbidden, Kernel, NotFound, RuleRefused, Unauthorized, lock_until_commit

from .cache import POD_CHANGED
from .models import Pod, PodAsset
from .pods import PodAccess

SUMMARY_TYPES = frozenset({"summary", "integration-summary"})
MEMORY_TARGETS = {"daily": "daily-log", "memory": "memory", "skill": "skill", "note": "note"}
WORD = re.compile(r"[a-z0-9][a-z0-9_-]{2,}")
#: How much of an asset's text the in-memory index keeps words from (ranking, keyword search).
INDEXED_CHARS = 4000
STOPWORDS = frozenset({
    "the", "and", "for", "with", "that", "this", "from", "into", "about", "have", "has", "had", "are", "was",
    "were", "will", "would", "should", "could", "what", "when", "where", "which", "who", "how", "why", "our",
    "your", "their", "its", "not", "but", "all", "any", "can", "you", "them", "they", "then", "than", "also",
    "just", "more", "most", "some", "such", "only", "other", "over", "very", "been", "being", "does", "did",
    "doing", "done", "out", "off", "per", "via", "use", "using", "used",
})


def words(text: str) -> set[str]:
    """Lower-cased words of three letters or more, stopwords left out."""
    return {word for word in WORD.findall(text.lower()) if word not in STOPWORDS}


def agent_key(actor: Actor) -> str | None:
    """``<agentName>:<instanceId>`` of an agent actor (claims set by the plugin that issued its token)."""
    if actor.kind != "agent" or not actor.claims.get("agentName"):
        return None
    return f"{actor.claims['agentName']}:{actor.claims.get('instanceId') or 'default'}"


def visible_filter(actor: Actor, pod_id: object = None) -> Q:
    """The assets of pod ``pod_id`` that ``actor`` may read (a Tortoise filter)."""
    key = agent_key(actor)
    if key and actor.allows("memory:read", pod_id):
        return Q(scope="pod") | Q(scope="agent", agent_key=key)
    return Q(scope="pod")


def may_see(asset: PodAsset | AssetEntry, actor: Actor, pod_id: object = None) -> bool:
    if asset.scope == "pod":
        return True
    key = agent_key(actor)
    return key is not None and actor.allows("memory:read", pod_id) and asset.agent_key == key


# -- writes ------------------------------------------------------------------------------------


async def create_asset(kernel: Kernel, granted: PodAccess, fields: dict[str, Any]) -> PodAsset:
    """Create an asset in the pod (fields already validated), then fire ``asset_saved``."""
    actor = granted.actor
    metadata = dict(fields.pop("metadata", None) or {})
    scope = fields.pop("scope", None) or metadata.get("scope") or ("agent" if agent_key(actor) else "pod")
    if scope not in ("pod", "agent"):  # metadata is free-form: its scope is checked here
        raise RuleRefused("`metadata.scope` must be `pod` or `agent`.", code="invalid_scope")
    metadata.update(_scope_metadata(actor, scope))
    _check_length(kernel, fields.get("content", ""))
    async with _inserting_into(granted.pod, author_id=actor.id), in_transaction():
        asset = await PodAsset.create(
            pod_id=granted.pod.id, metadata=metadata, scope=scope,
            agent_key=agent_key(actor) if scope == "agent" else None, created_by_id=actor.id,
            created_by_type="agent" if actor.kind == "agent" or actor.is_bot else "human", **fields,
        )
        await _bump(granted.pod)
    await _announce(kernel, granted.pod)
    await kernel.hooks.asset_saved(asset)
    return asset


async def update_asset(kernel: Kernel, granted: PodAccess, asset: PodAsset, changes: dict[str, Any]) -> PodAsset:
    """Apply ``changes`` to the asset as it is now (404 if deleted since ``asset`` was read), writing
    only the changed columns: a concurrent archive or PATCH of other fields is kept."""
    if not _may_change(granted, asset):
        raise Forbidden("Only the asset's author or the pod's admin may change it.", code="not_allowed")
    if "metadata" in changes:
        # The scope is not the client's to move: keep the stored scope keys.
        changes["metadata"] = {**(changes["metadata"] or {}), **_scope_metadata_of(asset)}
    _check_length(kernel, changes.get("content", ""))
    async with in_transaction():
        asset = await PodAsset.filter(id=asset.id).select_for_update().first()
        if asset is None:
            raise NotFound("No such asset in this pod.", code="asset_not_found")
        for field, value in changes.items():
            setattr(asset, field, value)
        await asset.save(update_fields=[*changes, "updated_at"])
        await _bump(granted.pod)
    await _announce(kernel, granted.pod)
    await _saved_or_archived(kernel, asset)
    return asset


async def delete_asset(kernel: Kernel, granted: PodAccess, asset: PodAsset) -> None:
    if not _may_change(granted, asset):
        raise Forbidden("Only the asset's author or the pod's admin may delete it.", code="not_allowed")
    async with in_transaction():
        await asset.delete()
        await _bump(granted.pod)
    await _announce(kernel, granted.pod)
    await kernel.hooks.asset_deleted(asset)


async def save_generated(kernel: Kernel, pod: Pod, assets: list[dict[str, Any]], *, replace: Q) -> list[PodAsset]:
    """Store system-made assets (synthesised skills), archiving those ``replace`` selects."""
    async with _inserting_into(pod), in_transaction() as transaction:
        # Two processes generating at once: the second waits, then archives the first one's batch too.
        await lock_until_commit(transaction, f"pods.generated:{pod.id}")
        stale = await PodAsset.filter(replace, pod_id=pod.id, status="active")
        await PodAsset.filter(id__in=[asset.id for asset in stale]).update(status="archived")
        created = [await PodAsset.create(pod_id=pod.id, created_by_type="system", scope="pod", **fields)
                   for fields in assets]
        await _bump(pod)
    await _announce(kernel, pod)
    for asset in stale:
        asset.status = "archived"
        await kernel.hooks.asset_deleted(asset)
    for asset in created:
        await kernel.hooks.asset_saved(asset)
    return created


async def _saved_or_archived(kernel: Kernel, asset: PodAsset) -> None:
    """``asset_deleted`` for an archived asset (the hook's contract: "deleted or archived", so an
    index drops it), ``asset_saved`` otherwise."""
    if asset.status == "archived":
        await kernel.hooks.asset_deleted(asset)
    else:
        await kernel.hooks.asset_saved(asset)


async def put_asset(kernel: Kernel, pod: Pod, *, match: dict[str, Any], fields: dict[str, Any]) -> PodAsset:
    """Create, or update the active asset matching ``match``, for trusted server code that sets the
    scope columns itself (``scope``, ``agent_key``: the registry imports skills for an agent);
    fires ``asset_saved``."""
    async with _inserting_into(pod, author_id=fields.get("created_by_id")), in_transaction() as transaction:
        # No row to lock yet when the asset is new: concurrent puts of one match would each insert.
        await lock_until_commit(transaction, f"pods.asset:{pod.id}:{json.dumps(match, sort_keys=True, default=str)}")
        asset = await PodAsset.filter(pod_id=pod.id, status="active", **match).select_for_update().first()
        if asset is None:
            asset = await PodAsset.create(pod_id=pod.id, **match, **fields)
        else:
            await asset.update_from_dict(fields).save()
        await _bump(pod)
    await _announce(kernel, pod)
    await kernel.hooks.asset_saved(asset)
    return asset


async def archive_asset(kernel: Kernel, pod: Pod, asset: PodAsset) -> PodAsset:
    """Archive an asset (trusted server code; the routes check who may)."""
    async with in_transaction():
        asset.status = "archived"
        await asset.save(update_fields=["status", "updated_at"])
        await _bump(pod)
    await _announce(kernel, pod)
    await _saved_or_archived(kernel, asset)
    return asset


@contextlib.asynccontextmanager
async def _inserting_into(pod: Pod, *, author_id: object = None) -> AsyncIterator[None]:
    """An insert whose pod (or author) was deleted since the caller looked breaks a foreign key:
    that is the pod's 404 (or the account's 401), as for messages, not a 500."""
    try:
        yield
    except IntegrityError:
        if not await Pod.exists(id=pod.id):
            raise NotFound("No such pod.", code="pod_not_found") from None
        if author_id is not None and not await users_by_ids([str(author_id)]):
            raise Unauthorized("This account no longer exists.", code="unauthorized") from None
        raise


def _may_change(granted: PodAccess, asset: PodAsset) -> bool:
    return granted.acts_as_admin or (asset.created_by_id is not None and str(asset.created_by_id) == granted.actor.id)


def _check_length(kernel: Kernel, content: str) -> None:
    from .config import config_for

    limit = config_for(kernel.settings).asset_max_chars
    if len(content) > limit:
        raise RuleRefused(f"An asset holds at most {limit} characters.", code="asset_too_large")


def _scope_metadata(actor: Actor, scope: str) -> dict[str, Any]:
    if scope == "pod":
        return {"scope": "pod"}
    key = agent_key(actor)
    if key is None:
        raise RuleRefused("Only an agent may keep agent-scoped memory.", code="invalid_scope")
    agent_name, _, instance_id = key.partition(":")
    return {"scope": "agent", "agentName": agent_name, "instanceId": instance_id}


def _scope_metadata_of(asset: PodAsset) -> dict[str, Any]:
    return {key: asset.metadata[key] for key in ("scope", "agentName", "instanceId") if key in asset.metadata}


async def _bump(pod: Pod) -> None:
    await Pod.filter(id=pod.id).update(memory_version=F("memory_version") + 1)


async def _announce(kernel: Kernel, pod: Pod) -> None:
    """After the write commits: cached copies of the pod row (which carry its memory_version) go."""
    await kernel.broadcast.publish(POD_CHANGED, str(pod.id))


# -- reads -------------------------------------------------------------------------------------


async def get_asset(granted: PodAccess, asset_id: int) -> PodAsset:
    """An asset of the pod the actor may see (404 otherwise, agent-scoped ones included)."""
    asset = await PodAsset.get_or_none(id=asset_id, pod_id=granted.pod.id)
    if asset is None or not may_see(asset, granted.actor, granted.pod.id):
        raise NotFound("No such asset in this pod.", code="asset_not_found")
    return asset


async def list_assets(granted: PodAccess, *, asset_type: str | None, status: str | None, limit: int,
                      before: int | None) -> tuple[list[PodAsset], bool]:
    query = PodAsset.filter(visible_filter(granted.actor, granted.pod.id), pod_id=granted.pod.id)
    if asset_type:
        query = query.filter(type=asset_type)
    if status:
        query = query.filter(status=status)
    if before is not None:
        query = query.filter(id__lt=before)
    assets = await query.order_by("-id").limit(limit + 1)
    return assets[:limit], len(assets) > limit


# -- the per-process index -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssetEntry:
    """What ranking needs of an active asset, without its text."""

    id: int
    type: str
    title: str
    source_type: str
    tags: tuple[str, ...]
    scope: str
    agent_key: str | None
    created_at: datetime
    title_words: frozenset[str]
    text_words: frozenset[str]


class MemoryIndex:
    """Each pod's active assets as ``AssetEntry`` rows, reloaded when the pod's
    ``memory_version`` moves (so every process behind a load balancer agrees), least recently used
    pods dropped beyond ``max_pods``."""

    def __init__(self, max_pods: int = 256) -> None:
        self._pods: OrderedDict[str, tuple[int, list[AssetEntry]]] = OrderedDict()
        self._max_pods = max_pods

    async def entries(self, pod: Pod) -> list[AssetEntry]:
        key = str(pod.id)
        cached = self._pods.get(key)
        if cached is not None and cached[0] == pod.memory_version:
            self._pods.move_to_end(key)
            return cached[1]
        # Read the version before the rows: a write racing this load makes the next read reload.
        version = await Pod.filter(id=pod.id).values_list("memory_version", flat=True)
        rows = await PodAsset.filter(pod_id=pod.id, status="active").order_by("-id").values(
            "id", "type", "title", "source_type", "tags", "scope", "agent_key", "created_at", "content")
        entries = [_entry(row) for row in rows]
        self._pods[key] = (version[0] if version else pod.memory_version, entries)
        self._pods.move_to_end(key)
        while len(self._pods) > self._max_pods:
            self._pods.popitem(last=False)
        return entries


def _entry(row: dict[str, Any]) -> AssetEntry:
    tags = tuple(str(tag) for tag in row["tags"] or ())
    return AssetEntry(
        id=row["id"], type=row["type"], title=row["title"], source_type=row["source_type"], tags=tags,
        scope=row["scope"], agent_key=row["agent_key"], created_at=row["created_at"],
        title_words=frozenset(words(row["title"])),
        text_words=frozenset(words(row["content"][:INDEXED_CHARS])),
    )


def tag_counts(entries: list[AssetEntry]) -> Counter[str]:
    return Counter(tag.lower() for entry in entries for tag in entry.tags if tag)
