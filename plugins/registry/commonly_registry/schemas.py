"""Request bodies and query strings of the registry (camelCase on the wire)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from commonly_kernel import QueryArgs, RequestBody, WireModel

Name = Annotated[str, Field(min_length=1, max_length=120)]
InstanceId = Annotated[str, Field(min_length=1, max_length=80)]


def clamped(low: int, high: int) -> AfterValidator:
    return AfterValidator(lambda value: min(max(value, low), high))


class Loose(WireModel):
    """A response whose fields are documented in the README (plugins' config and payloads vary)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class AgentListQuery(QueryArgs):
    q: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=100)
    limit: Annotated[int, clamped(1, 100)] = 50
    before: str | None = Field(default=None, max_length=120)


class InstallIn(RequestBody):
    agent_name: Name
    pod_id: str = Field(min_length=1, max_length=64)
    instance_id: InstanceId | None = None
    display_name: str | None = Field(default=None, max_length=200)
    version: str | None = Field(default=None, max_length=60)
    config: dict[str, Any] = Field(default_factory=dict)
    scopes: list[Annotated[str, Field(max_length=60)]] | None = Field(default=None, max_length=30)


class InstanceQuery(QueryArgs):
    instance_id: InstanceId | None = None


class InstallationPatch(RequestBody):
    instance_id: InstanceId | None = None
    display_name: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = None
    scopes: list[Annotated[str, Field(max_length=60)]] | None = Field(default=None, max_length=30)
    status: Literal["active", "paused"] | None = None


class RuntimeTokenIn(RequestBody):
    label: str = Field(default="", max_length=120)
    instance_id: InstanceId | None = None
    force: bool = False  # the original CLI sends it; every call issues a new token anyway


class BotTokenIn(RequestBody):
    scopes: list[Annotated[str, Field(max_length=60)]] = Field(default_factory=list, max_length=10)
    instance_id: InstanceId | None = None


class PublishIn(RequestBody):
    manifest: dict[str, Any]
    display_name: str | None = Field(default=None, max_length=200)
    readme: str | None = Field(default=None, max_length=200_000)
    categories: list[Annotated[str, Field(max_length=60)]] = Field(default_factory=list, max_length=20)
    tags: list[Annotated[str, Field(max_length=60)]] = Field(default_factory=list, max_length=30)


class TemplateIn(RequestBody):
    agent_name: Name
    display_name: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=5000)
    icon_url: str = Field(default="", max_length=500)
    visibility: Literal["private", "public"] = "private"


class AdminInstallQuery(QueryArgs):
    q: str | None = Field(default=None, max_length=200)
    status: Literal["active", "paused", "uninstalled"] | None = None
    limit: Annotated[int, clamped(1, 100)] = 50
    before: str | None = Field(default=None, max_length=64)


class GatewayIn(RequestBody):
    name: str = Field(min_length=1, max_length=120)
    slug: str | None = Field(default=None, min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")
    mode: str = Field(default="local", max_length=40)
    type: str = Field(default="openclaw", max_length=40)
    base_url: str = Field(default="", max_length=500)
    config_path: str = Field(default="", max_length=500)
    metadata: dict[str, Any] = Field(default_factory=dict)


class GatewayPatch(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    mode: str | None = Field(default=None, max_length=40)
    type: str | None = Field(default=None, max_length=40)
    base_url: str | None = Field(default=None, max_length=500)
    config_path: str | None = Field(default=None, max_length=500)
    metadata: dict[str, Any] | None = None


# -- runtime -----------------------------------------------------------------------------------


class EventQuery(QueryArgs):
    limit: Annotated[int, clamped(1, 100)] = 20


class AckIn(RequestBody):
    result: dict[str, Any] | None = None


class AckManyIn(RequestBody):
    """The batch ack (an extension): several events, one result."""

    event_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(max_length=500)
    result: dict[str, Any] | None = None


class DmIn(RequestBody):
    agent_name: Name
    instance_id: InstanceId | None = None


class RuntimeMessagesQuery(QueryArgs):
    before: int | None = Field(default=None, ge=1, le=2**63 - 1)
    after: int | None = Field(default=None, ge=0, le=2**63 - 1)
    limit: Annotated[int, clamped(1, 200)] = 50


class AgentMessageIn(RequestBody):
    content: str = Field(default="", max_length=20_000)
    #: Also accepted as ``reply_to_message_id`` (the original Python SDK's spelling).
    reply_to_message_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    metadata: dict[str, Any] | None = None


class CommentIn(RequestBody):
    content: str = Field(min_length=1, max_length=10_000)


class DevEventIn(RequestBody):
    pod_id: str = Field(min_length=1, max_length=64)
    agent_name: Name
    type: str = Field(min_length=1, max_length=60)
    payload: dict[str, Any] = Field(default_factory=dict)
    instance_id: InstanceId | None = None


# -- skills ------------------------------------------------------------------------------------


class SkillCatalogQuery(QueryArgs):
    source: str | None = Field(default=None, max_length=200)
    q: str | None = Field(default=None, max_length=200)
    limit: Annotated[int, clamped(1, 100)] = 50


class SkillImportIn(RequestBody):
    pod_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=200_000)
    description: str = Field(default="", max_length=2000)
    scope: Literal["pod", "agent"] = "pod"
    agent_name: Name | None = None
    instance_id: InstanceId | None = None
    tags: list[Annotated[str, Field(max_length=60)]] = Field(default_factory=list, max_length=30)
    source_url: str | None = Field(default=None, max_length=2000)
    license: str | None = Field(default=None, max_length=200)


class SkillRemoveQuery(QueryArgs):
    name: str = Field(min_length=1, max_length=200)
    scope: Literal["pod", "agent"] = "pod"
    agent_name: str | None = Field(default=None, max_length=120)
    instance_id: str | None = Field(default=None, max_length=80)


class RequirementsQuery(QueryArgs):
    source_url: str = Field(min_length=1, max_length=2000)
