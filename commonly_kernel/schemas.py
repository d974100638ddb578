"""Base pydantic models for the wire format: camelCase JSON, snake_case Python.

Request bodies refuse unknown fields (``extra="forbid"``: a typo is a 400, not silently
ignored); query strings ignore them (the original clients send a few extra parameters).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel


def _refuse_nul(value: Any) -> Any:
    # PostgreSQL text and JSON cannot hold U+0000: refuse it as bad input (400), not a database
    # error (500) — in strings, and in the keys and values of lists and objects at any depth.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key)
            _refuse_nul(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _refuse_nul(item)
    return value


class WireModel(BaseModel):
    """A response body. Serialised by alias (camelCase)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class RequestBody(WireModel):
    """A JSON request body: unknown or wrongly typed fields are a 400 with details.

    Strict: ``"5"`` is not an integer and ``1`` is not a boolean. JSON has no date type, so give
    datetime (and UUID) fields ``Field(strict=False)`` to accept ISO-8601 strings.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True)

    _no_nul = field_validator("*")(_refuse_nul)


class QueryArgs(WireModel):
    """Query-string parameters: unknown ones ignored, known ones validated."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    _no_nul = field_validator("*")(_refuse_nul)


class MessageOut(WireModel):
    """``{message}``: what deletes and simple actions answer."""

    message: str
