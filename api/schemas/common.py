"""Shapes shared by every domain: the two pagination families, and the `{data}` / `{message}`
envelopes the contract wraps single objects in."""

from __future__ import annotations

import math
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

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
