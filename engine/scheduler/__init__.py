"""Scheduled jobs: the `scheduled_jobs` table mirrored by Temporal Schedules (`sched-<job id>`),
the target registry (what a job can run), and the execution history each firing records through
its `ScheduledJobRun` workflow."""
