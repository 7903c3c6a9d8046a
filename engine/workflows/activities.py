"""Activity contracts of the workflow engine (names; inputs and outputs are in `schemas`).
Implementations live in `workers/workflows/`."""

from __future__ import annotations

PROJECT = "workflows.project"  # local activity: write a ProjectionBatch in one transaction
LOAD_DEFINITION = "workflows.load_definition"  # local activity: resolve a sub-workflow's definition
RUN_ACTIVITY = "workflows.run_activity"  # one definition activity (SEND_EMAIL, CALL_API, ...)
