from __future__ import annotations

from engine.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable


class InvalidJob(BadRequest):
    """A job field is wrong: `{"error": "Invalid input", "details": [{path, message}]}`, nothing stored."""

    code = "invalid_job"

    def __init__(self, path: str, message: str) -> None:
        super().__init__("Invalid input", extra={"details": [{"path": path, "message": message}]})
        self.path = path


class JobNotFound(NotFound):
    code = "schedule_not_found"

    def __init__(self) -> None:
        super().__init__("Schedule not found")


class RunNotFound(NotFound):
    code = "run_not_found"

    def __init__(self) -> None:
        super().__init__("Job not found")


class SystemScopeForbidden(Forbidden):
    code = "system_scope"

    def __init__(self) -> None:
        super().__init__("System-scoped schedules require superadmin privileges")


class SchedulerUnavailable(ServiceUnavailable):
    """Temporal refused or could not be reached; the table was left as it was."""

    code = "scheduler_unavailable"
