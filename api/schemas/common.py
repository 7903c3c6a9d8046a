"""Shapes shared by every domain: the two pagination families, and the `{data}` / `{message}`
envelopes the contract wraps single objects in."""

from __future__ import annotations

import math
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from engine.inputs import StrictScalars
from engine.pagination import PageParams

T = TypeVar("T")


class Body(BaseModel):
    """Base of every response model."""

    model_config = ConfigDict(extra="forbid")


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
    """`limit/offset` lists (engine.pagination.offset_body)."""

    data: list[T]
    pagination: Pagination


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
