"""Base pydantic models for the wire format: camelCase JSON, snake_case Python.

Request bodies refuse unknown fields (``extra="forbid"``: a typo is a 400, not silently
ignored); query strings ignore them (the original clients send a few extra parameters).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A response body. Serialised by alias (camelCase)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class RequestBody(WireModel):
    """A JSON request body: unknown or wrongly typed fields are a 400 with details."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=False
    )


class QueryArgs(WireModel):
    """Query-string parameters: unknown ones ignored, known ones validated."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class MessageOut(WireModel):
    """``{message}``: what deletes and simple actions answer."""

    message: str
