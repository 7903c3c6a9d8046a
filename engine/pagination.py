"""The contract's two paging families, implemented once:
`page/pageSize -> {items, total, totalPages}` and `limit/offset -> {data, pagination{...}}` (the
answer: `api.schemas.common.OffsetPage.of`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Result, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.errors import BadRequest

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class PageParams:
    page: int = 1
    page_size: int = 50
    max_page_size: int = MAX_PAGE_SIZE  # an endpoint's contract may allow fewer (business rules: 100)

    def __post_init__(self) -> None:
        if self.page < 1:
            raise BadRequest("page must be >= 1")
        if not 1 <= self.page_size <= self.max_page_size:
            raise BadRequest(f"pageSize must be between 1 and {self.max_page_size}")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def limit(self) -> int:
        return self.page_size


@dataclass(frozen=True)
class OffsetParams:
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise BadRequest(f"limit must be between 1 and {MAX_PAGE_SIZE}")
        if self.offset < 0:
            raise BadRequest("offset must be >= 0")


def sort_order(
    columns: Mapping[str, Any], field: str | None, direction: str | None, *, default: str, default_dir: str = "asc"
) -> Any:
    """The ORDER BY for a list's `sortField`/`sortDir` query parameters; unknown values are a 400."""
    column = columns.get(field or default)
    if column is None:
        raise BadRequest(f"Invalid query parameters: sortField must be one of {', '.join(columns)}")
    chosen = (direction or default_dir).lower()
    if chosen not in ("asc", "desc"):
        raise BadRequest("Invalid query parameters: sortDir must be asc or desc")
    return column.asc() if chosen == "asc" else column.desc()


async def count(session: AsyncSession, query: Select[*tuple[Any, ...]]) -> int:
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return int(total or 0)


async def page_of(
    session: AsyncSession, query: Select[*tuple[Any, ...]], params: PageParams | OffsetParams, *order: Any
) -> tuple[int, Result[*tuple[Any, ...]]]:
    """Every list's two queries: the total of `query`, and the page `params` asks for in `order`."""
    total = await count(session, query)
    return total, await session.execute(query.order_by(*order).offset(params.offset).limit(params.limit))


def page_body(
    items: list[Any], total: int, params: PageParams, *, with_page: bool = True, min_pages: int = 0
) -> dict[str, Any]:
    """`{items, total, totalPages[, page, pageSize]}`; `min_pages=1` where the contract says an
    empty list still has one page (business rules)."""
    pages = max(min_pages, math.ceil(total / params.page_size))
    body: dict[str, Any] = {"items": items, "total": total, "totalPages": pages}
    if with_page:
        body.update(page=params.page, pageSize=params.page_size)
    return body
