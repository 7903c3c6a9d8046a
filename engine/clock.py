"""The one clock and the one timestamp format of every answer.

`now()` is the only wall clock outside workflow code (workflows use `workflow.now()`, which replays).
`iso()` formats every timestamp an answer carries, as the contract does: `2026-01-01T00:00:00.000Z`
(UTC, milliseconds, `Z`). Pure: workflow code may import it."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current UTC time (timezone-aware)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """`2026-01-01T00:00:00.000Z`; a naive datetime is taken as UTC."""
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None
