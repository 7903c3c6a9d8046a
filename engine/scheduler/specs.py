"""Pure schedule logic: validation of cron, interval and time zone, the Temporal ScheduleSpec
and SchedulePolicy a job maps to, and the next firing time the same spec gives (so `nextRunAt`
is what Temporal will do, without asking it on every list)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from temporalio.client import (
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from engine.scheduler.errors import InvalidJob

ScheduleType = Literal["cron", "interval"]
Overlap = Literal["SKIP", "BUFFER_ONE", "ALLOW_ALL"]
OVERLAPS: dict[str, ScheduleOverlapPolicy] = {
    "SKIP": ScheduleOverlapPolicy.SKIP,
    "BUFFER_ONE": ScheduleOverlapPolicy.BUFFER_ONE,
    "ALLOW_ALL": ScheduleOverlapPolicy.ALLOW_ALL,
}
INTERVAL = re.compile(r"^(\d+)(s|m|h|d)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Temporal refuses catch-up windows under 10 s; a day bounds what an outage can replay.
MIN_CATCHUP = timedelta(seconds=10)
MAX_CATCHUP = timedelta(days=1)
SCHEDULE_VALUE_HELP = (
    "Invalid schedule value. For cron: 5 fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * *'. "
    "For interval: a positive whole number and a unit s, m, h or d, e.g. '15m'."
)


@dataclass(frozen=True)
class JobSpec:
    """What decides when a job fires (and what Temporal must be told)."""

    schedule_type: ScheduleType
    schedule_value: str
    timezone: str = "UTC"
    overlap: Overlap = "SKIP"
    catchup_window_seconds: int | None = None
    jitter_seconds: int = 0


def parse_interval(value: str) -> timedelta:
    match = INTERVAL.match(value.strip())
    if match is None or int(match.group(1)) == 0:
        raise InvalidJob("scheduleValue", SCHEDULE_VALUE_HELP)
    return timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])


def check_cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or not croniter.is_valid(" ".join(fields)):
        raise InvalidJob("scheduleValue", SCHEDULE_VALUE_HELP)
    return " ".join(fields)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidJob("timezone", f"Unknown time zone '{name}' (an IANA name such as 'Europe/Warsaw' is expected)")


def validate(spec: JobSpec) -> JobSpec:
    """The spec as stored (cron fields single-spaced); raises InvalidJob with the field's path."""
    if spec.schedule_type not in ("cron", "interval"):
        raise InvalidJob("scheduleType", "scheduleType must be 'cron' or 'interval'")
    zone(spec.timezone)
    if spec.overlap not in OVERLAPS:
        raise InvalidJob("overlapPolicy", f"overlapPolicy must be one of {', '.join(OVERLAPS)}")
    if spec.jitter_seconds < 0:
        raise InvalidJob("jitterSeconds", "jitterSeconds must be >= 0")
    if spec.catchup_window_seconds is not None and spec.catchup_window_seconds < MIN_CATCHUP.total_seconds():
        raise InvalidJob("catchupWindowSeconds", "catchupWindowSeconds must be at least 10")
    if spec.schedule_type == "cron":
        value = check_cron(spec.schedule_value)
    else:
        parse_interval(spec.schedule_value)
        value = spec.schedule_value.strip()
    return JobSpec(
        spec.schedule_type, value, spec.timezone, spec.overlap, spec.catchup_window_seconds, spec.jitter_seconds
    )


def schedule_spec(spec: JobSpec) -> ScheduleSpec:
    jitter = timedelta(seconds=spec.jitter_seconds) if spec.jitter_seconds else None
    if spec.schedule_type == "interval":
        # Intervals count from the Unix epoch (Temporal's rule), so the time zone plays no part.
        return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=parse_interval(spec.schedule_value))], jitter=jitter)
    return ScheduleSpec(cron_expressions=[spec.schedule_value], time_zone_name=spec.timezone, jitter=jitter)


def next_run(spec: JobSpec, after: datetime) -> datetime:
    """The first firing strictly after `after` (before jitter), in UTC."""
    if spec.schedule_type == "interval":
        every = int(parse_interval(spec.schedule_value).total_seconds())
        epoch_seconds = int(after.timestamp()) // every * every + every
        return datetime.fromtimestamp(epoch_seconds, UTC)
    local = after.astimezone(zone(spec.timezone))
    found: datetime = croniter(spec.schedule_value, local).get_next(datetime)
    return found.astimezone(UTC)


def runs_between(spec: JobSpec, start: datetime, count: int) -> list[datetime]:
    times, at = [], start
    for _ in range(count):
        at = next_run(spec, at)
        times.append(at)
    return times


def period(spec: JobSpec, around: datetime) -> timedelta:
    if spec.schedule_type == "interval":
        return parse_interval(spec.schedule_value)
    first, second = runs_between(spec, around, 2)
    return second - first


def catchup_window(spec: JobSpec, around: datetime) -> timedelta:
    """A firing missed during an outage runs once when the outage ends within this window; the
    default is one period of the job (so at most one missed firing is made up), within 10 s..1 day."""
    if spec.catchup_window_seconds is not None:
        return timedelta(seconds=spec.catchup_window_seconds)
    return min(max(period(spec, around), MIN_CATCHUP), MAX_CATCHUP)


def schedule_policy(spec: JobSpec, around: datetime) -> SchedulePolicy:
    return SchedulePolicy(overlap=OVERLAPS[spec.overlap], catchup_window=catchup_window(spec, around))


def fingerprint(spec: JobSpec, task_queue: str) -> str:
    """Identifies what Temporal was told (kept in the schedule's memo), so drift can be seen."""
    raw = json.dumps([spec.__dict__, task_queue], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
