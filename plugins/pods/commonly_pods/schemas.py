"""Request and response bodies of the pods plugin (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from commonly_kernel import QueryArgs, RequestBody, WireModel

from .messages import MAX_ATTACHMENTS, MAX_CONTENT

PodType = Literal["chat", "study", "games", "agent-ensemble", "agent-admin"]
JoinPolicy = Literal["open", "invite-only"]
AssetType = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Tag = Annotated[str, Field(min_length=1, max_length=60)]


def clamped(low: int, high: int) -> AfterValidator:
    """Out-of-range numbers are brought into range, never refused (the spec's rule for limits)."""
    return AfterValidator(lambda value: min(max(value, low), high))


def _llm_unless_known(value: Any) -> Any:
    return value if value in ("llm", "heuristic", "none") else "llm"


# -- pods --------------------------------------------------------------------------------------


class PodIn(RequestBody):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=5000)
    type: PodType = "chat"
    join_policy: JoinPolicy = "open"


class PodUpdate(RequestBody):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=5000)
    type: PodType | None = None
    join_policy: JoinPolicy | None = None


class PodListQuery(QueryArgs):
    type: PodType | None = None
    scope: Literal["mine", "discover", "all"] = "mine"
    limit: Annotated[int, clamped(1, 100)] = 50
    before: str | None = None


class MemberOut(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    username: str
    profile_picture: str
    is_bot: bool
    role: str
    joined_at: datetime


class PodOut(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    name: str
    description: str
    type: str
    join_policy: str
    created_by: str | None
    members: list[MemberOut]
    member_count: int
    #: The caller's role in the pod (``admin``, ``member``), null when not a member.
    role: str | None
    created_at: datetime
    updated_at: datetime


# -- messages ----------------------------------------------------------------------------------


class MessageIn(RequestBody):
    content: str = Field(default="", max_length=MAX_CONTENT)
    attachments: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS)
    reply_to_message_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class AliasMessageIn(MessageIn):
    """The original clients' ``POST /api/messages/:podId``: ``{content}`` or ``{text}``."""

    text: str | None = Field(default=None, max_length=MAX_CONTENT)


class MessageQuery(QueryArgs):
    before: int | None = Field(default=None, ge=1, le=2**63 - 1)
    after: int | None = Field(default=None, ge=0, le=2**63 - 1)
    limit: Annotated[int, clamped(1, 200)] = 50


class Author(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    username: str
    profile_picture: str
    is_bot: bool


class ChatMessage(WireModel):
    id: int
    mongo_id: int = Field(alias="_id")
    pod_id: str
    user_id: str | None
    content: str
    message_type: str
    attachments: list[str]
    reply_to_message_id: int | None
    created_at: datetime
    author: Author | None
    #: The author's, repeated flat for the original clients.
    username: str
    is_bot: bool


# -- assets ------------------------------------------------------------------------------------


class AssetIn(RequestBody):
    type: AssetType = "note"
    title: str = Field(default="", max_length=300)
    content: str = ""
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    source_type: str = Field(default="", max_length=40)
    source_ref: str = Field(default="", max_length=500)
    metadata: dict[str, Any] = Field(default_factory=dict)
    scope: Literal["pod", "agent"] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> AssetIn:
        if not (self.title.strip() or self.content.strip() or self.source_ref.strip()):
            raise ValueError("an asset needs a title, content or a sourceRef")
        return self


class AssetPatch(RequestBody):
    type: AssetType | None = None
    title: str | None = Field(default=None, max_length=300)
    content: str | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    source_type: str | None = Field(default=None, max_length=40)
    source_ref: str | None = Field(default=None, max_length=500)
    metadata: dict[str, Any] | None = None
    status: Literal["active", "archived"] | None = None


class AssetListQuery(QueryArgs):
    type: str | None = Field(default=None, max_length=40)
    status: Literal["active", "archived"] | None = None
    limit: Annotated[int, clamped(1, 100)] = 50
    before: int | None = Field(default=None, ge=1, le=2**63 - 1)


class AssetOut(WireModel):
    id: str
    mongo_id: str = Field(alias="_id")
    pod_id: str
    type: str
    title: str
    content: str
    tags: list[str]
    source_type: str
    source_ref: str
    metadata: dict[str, Any]
    status: str
    created_by_type: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class MemoryIn(RequestBody):
    target: Literal["daily", "memory", "skill", "note"]
    content: str = Field(min_length=1)
    title: str | None = Field(default=None, max_length=300)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    scope: Literal["agent", "pod"] | None = None


class MemoryOut(WireModel):
    success: bool
    asset_id: str


# -- context -----------------------------------------------------------------------------------


class ContextArgs(QueryArgs):
    task: str | None = Field(default=None, max_length=2000)
    summary_limit: Annotated[int, clamped(1, 20)] = 6
    asset_limit: Annotated[int, clamped(1, 40)] = 12
    tag_limit: Annotated[int, clamped(1, 40)] = 16
    skill_limit: Annotated[int, clamped(1, 12)] = 6
    skill_mode: Annotated[str, BeforeValidator(_llm_unless_known)] = "llm"
    skill_refresh_hours: Annotated[int, clamped(1, 72)] = 6


class ContextOut(WireModel):
    """The pod context; plugins' sections (e.g. ``semantic``) are further top-level keys."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    pod: dict[str, Any]
    task: str | None
    summaries: list[dict[str, Any]]
    assets: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    skills: list[dict[str, Any]]
    skill_mode_used: str
    skill_warnings: list[str]
    stats: dict[str, int]


class SearchArgs(QueryArgs):
    query: str = Field(min_length=1, max_length=2000)
    limit: Annotated[int, clamped(1, 40)] = 8
    include_skills: bool = False
    types: str | None = Field(default=None, max_length=500)


class SearchHit(WireModel):
    asset_id: str
    title: str
    type: str
    tags: list[str]
    score: float
    snippet: str
    created_at: datetime


class SearchOut(WireModel):
    query: str
    #: ``keyword`` here; a plugin with a semantic index may answer ``semantic``.
    mode: str = "keyword"
    results: list[SearchHit]


class ExcerptArgs(QueryArgs):
    start: int = Field(default=1, alias="from")
    lines: Annotated[int, clamped(1, 100)] = 12


class ExcerptOut(WireModel):
    asset_id: str
    title: str
    text: str
    start_line: int
    end_line: int
    total_lines: int
