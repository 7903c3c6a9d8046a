"""Domain errors. Each carries its HTTP status and a stable code; the API has the only handler that
turns them into the contract's `{"error": ...}` bodies."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


class BadRequest(DomainError):
    status_code = 400
    code = "bad_request"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unprocessable(DomainError):
    status_code = 422
    code = "unprocessable"


class TooManyRequests(DomainError):
    status_code = 429
    code = "rate_limited"


class ProcessingFailed(DomainError):
    """A failure on our side the caller should retry (a webhook whose event could not be stored)."""

    status_code = 500
    code = "processing_failed"


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "unavailable"
