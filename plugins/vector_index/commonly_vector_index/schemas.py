"""Request and response bodies of the vector index's routes (camelCase on the wire)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from commonly_kernel import QueryArgs, RequestBody, WireModel

MAX_QUERY_CHARS = 1000
MAX_TYPES = 20
#: The pods plugin's rule for asset types.
ASSET_TYPE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def clamped(low: int, high: int) -> AfterValidator:
    """Out-of-range limits are brought into range, never refused (the spec's rule for limits)."""
    return AfterValidator(lambda value: min(max(value, low), high))


class SearchArgs(QueryArgs):
    q: str = Field(max_length=MAX_QUERY_CHARS)
    limit: Annotated[int, clamped(1, 100)] = 10
    types: str | None = Field(default=None, max_length=1000)
    hybrid: bool = False

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("types")
    @classmethod
    def _asset_types(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [item.strip() for item in value.split(",") if item.strip()]
        bad = [name for name in names if not ASSET_TYPE.match(name)]
        if bad:
            raise ValueError(f"not asset types: {', '.join(bad[:5])} (lower-case letters, digits, - and _)")
        if len(names) > MAX_TYPES:
            raise ValueError(f"at most {MAX_TYPES} types")
        return ",".join(dict.fromkeys(names))

    @property
    def type_list(self) -> list[str]:
        return self.types.split(",") if self.types else []


class SearchResult(WireModel):
    asset_id: str
    chunk_index: int
    title: str
    snippet: str
    score: float
    type: str
    tags: list[str]


class SearchOut(WireModel):
    query: str
    results: list[SearchResult]


class Stats(WireModel):
    available: bool
    chunks: int
    assets: int
    embeddings: int
    model: str
    dimensions: int
    pending: int
    failed: int


class StatsOut(WireModel):
    stats: Stats


class RebuildIn(RequestBody):
    reset: bool = False


class RebuildOut(WireModel):
    indexed: int
    errors: int
    total: int
    reset: bool
    pending: int


class RebuildAllOut(RebuildOut):
    pods: int
