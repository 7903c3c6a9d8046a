"""Response bodies of the health probes."""

from __future__ import annotations

from typing import Literal

from api.schemas.common import Body


class Live(Body):
    status: Literal["ok"]


class Checks(Body):
    postgres: Literal["ok", "down"]
    temporal: Literal["ok", "down"]


class Ready(Body):
    status: Literal["ok"]
    checks: Checks


class NotReady(Body):
    status: Literal["unavailable"]
    error: str
    checks: Checks
