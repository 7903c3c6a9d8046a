"""What every router shares: the request-body base model and the paging / id helpers."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from engine.auth.scope import parse_uuid
from engine.errors import BadRequest
from engine.pagination import PageParams


class Camel(BaseModel):
    """Base of request bodies: camelCase aliases accepted, unknown keys ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")


def page_params(page: int, page_size: int) -> PageParams:
    """`page`/`pageSize` query parameters (400 when out of range)."""
    return PageParams(page=page, page_size=page_size)


def required_id(value: str | None, field: str = "id") -> uuid.UUID:
    """A required UUID query parameter: 400 when missing or malformed."""
    parsed = parse_uuid(value, field)
    if parsed is None:
        raise BadRequest(f"{field} is required")
    return parsed
