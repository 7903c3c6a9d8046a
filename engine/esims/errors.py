"""Errors of the eSIM domain (stable codes; the API maps them to the contract's bodies)."""

from __future__ import annotations

from engine.errors import Conflict, DomainError, NotFound


class EsimNotFound(NotFound):
    code = "esim_not_found"

    def __init__(self) -> None:
        super().__init__("eSIM not found")


class OneGlobalError(DomainError):
    """1Global refused or failed a call we make on the caller's behalf: 502 with its message."""

    status_code = 502
    code = "oneglobal_error"


class EsimNotReady(Conflict):
    code = "esim_not_ready"
