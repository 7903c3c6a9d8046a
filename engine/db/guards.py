"""Column limits checked before every flush, for every model (new domains included): a string longer
than its `String(n)` column, or a NUL character in a text column (Postgres refuses it), is a 400
naming the field instead of a truncation error (500) from the database. The limits come from the
SQLAlchemy models themselves, so they cannot drift from the schema."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from engine.errors import BadRequest


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _check(instance: Any) -> None:
    mapper = inspect(type(instance))
    state = inspect(instance)
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        if not isinstance(column.type, String):
            continue
        if attr.key not in state.dict:
            continue
        value = state.dict[attr.key]
        if not isinstance(value, str):
            continue
        field = camel(attr.key)
        if "\x00" in value:
            raise _refusal(field, "nul_character", "NUL characters are not allowed")
        limit = column.type.length
        if limit is not None and len(value) > limit:
            raise _refusal(field, "too_long", f"at most {limit} characters")


def _refusal(field: str, code: str, message: str) -> BadRequest:
    detail = {"code": code, "message": message, "path": field}
    return BadRequest(f"Invalid request: {field}: {message}", extra={"details": [detail]})


@event.listens_for(Session, "before_flush")
def _column_limits(session: Session, _: UOWTransaction, __: Any) -> None:
    for instance in (*session.new, *session.dirty):
        _check(instance)
