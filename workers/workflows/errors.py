from __future__ import annotations

from temporalio.exceptions import ApplicationError


class ActivityConfigError(ApplicationError):
    """The definition asks for something impossible (bad config, unknown function): retrying
    cannot help, so the workflow fails the activity at once."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="ActivityConfigError", non_retryable=True)


class NonRetryable(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, type="NonRetryable", non_retryable=True)
