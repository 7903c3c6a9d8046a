"""Shapes shared by every domain: the two pagination families, and the `{data}` / `{message}`
envelopes the contract wraps single objects in."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel

from engine.clock import iso
from engine.inputs import StrictScalars
from engine.pagination import OffsetParams, PageParams

T = TypeVar("T")


class Body(BaseModel):
    """Base of every response model."""

    model_config = ConfigDict(extra="forbid")


def _as_text(value: object) -> object:
    return str(value) if value is not None and not isinstance(value, str) else value


def _as_timestamp(value: object) -> object:
    return iso(value) if isinstance(value, datetime) else value


Id = Annotated[str, BeforeValidator(_as_text)]
"""An id on the wire: a row's UUID (or integer) key as its string."""

Timestamp = Annotated[str, BeforeValidator(_as_timestamp)]
"""A timestamp on the wire: a row's datetime as `engine.clock.iso` formats it (`...T10:00:00.000Z`)."""


class RowBody(Body):
    """A response model read from a row's attributes (`Model.of(row)`): snake_case fields named as
    the row's attributes, camelCase keys on the wire (and in the contract's examples); ids and
    timestamps typed `Id` and `Timestamp` so the answer carries strings in the contract's formats."""

    model_config = ConfigDict(extra="forbid", from_attributes=True, alias_generator=to_camel, populate_by_name=True)

    @classmethod
    def of(cls, row: Any) -> Self:
        """The answer for a row (any object with the fields' names as attributes)."""
        return cls.model_validate(row, from_attributes=True, by_alias=False, by_name=True)


class Page(Body, Generic[T]):
    """`page/pageSize` lists (engine.pagination.page_body with_page=False)."""

    items: list[T]
    total: int
    totalPages: int

    @classmethod
    def of(cls, items: list[T], total: int, params: PageParams) -> Page[T]:
        return cls(items=items, total=total, totalPages=math.ceil(total / params.page_size))


class PositionedPage(Page[T], Generic[T]):
    """`page/pageSize` lists that echo the position back (engine.pagination.page_body)."""

    page: int
    pageSize: int

    @classmethod
    def of(cls, items: list[T], total: int, params: PageParams) -> PositionedPage[T]:
        return cls(
            items=items,
            total=total,
            totalPages=math.ceil(total / params.page_size),
            page=params.page,
            pageSize=params.page_size,
        )


class Pagination(Body):
    total: int
    limit: int
    offset: int
    hasMore: bool


class OffsetPage(Body, Generic[T]):
    """`limit/offset` lists."""

    data: list[T]
    pagination: Pagination

    @classmethod
    def of(cls, data: list[T], total: int, params: OffsetParams) -> OffsetPage[T]:
        has_more = params.offset + len(data) < total
        return cls(
            data=data, pagination=Pagination(total=total, limit=params.limit, offset=params.offset, hasMore=has_more)
        )


class Message(Body):
    message: str


class Data(Body, Generic[T]):
    data: T


class DataMessage(Data[T], Generic[T]):
    message: str


class Success(Body):
    success: bool


class Ok(Body):
    ok: bool


class Created(Body):
    id: str


class Input(StrictScalars):
    """Base of every request body (strict booleans and integers, see engine.inputs); camel-case
    aliases or field names."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class ErrorDetail(Body):
    code: str | None = None
    message: str
    path: str


class Error(BaseModel):
    """Every error body: `error` always, plus what the case adds (`details` for invalid input,
    `requiredFeatures` for 403, `requestId` for 500, a route's own keys such as `ok: false`)."""

    model_config = ConfigDict(extra="allow")

    error: str
    details: list[ErrorDetail] | None = None
    requiredFeatures: list[str] | None = None
    requestId: str | None = None
