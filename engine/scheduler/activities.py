"""Activity contracts of the scheduler; implementations in workers/scheduler.py."""

from __future__ import annotations

BEGIN_RUN = "scheduler.begin_run"
RUN_TARGET = "scheduler.run_target"
FINISH_RUN = "scheduler.finish_run"
